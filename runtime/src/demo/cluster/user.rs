//! Who runs the server: PostgreSQL refuses to run as root, so as root every server-side command
//! runs as the `postgres` OS user (with `runuser`, else `su`), which must own and reach the temp dir.
//! On Windows there is nothing to switch: `pg_ctl` itself drops administrator rights (it starts the
//! server with a restricted token), so the current user runs everything.

use std::ffi::OsStr;
use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::ClusterError;
#[cfg(unix)]
use super::OS_USER;

/// How server-side commands run: PostgreSQL refuses to run as root, so root switches to `postgres`.
#[derive(Debug, Clone)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(super) enum RunAs {
    Current,
    Runuser(PathBuf),
    Su,
}

impl RunAs {
    /// The command running `program` with `args`, as the server user when `server_side`.
    pub(super) fn command(&self, program: &Path, args: &[&OsStr], server_side: bool) -> Command {
        match (self, server_side) {
            #[cfg(unix)]
            (RunAs::Runuser(runuser), true) => {
                let mut c = Command::new(runuser);
                c.args(["-u", OS_USER, "--"]).arg(program).args(args);
                c
            }
            #[cfg(unix)]
            (RunAs::Su, true) => {
                let mut script = String::from("exec");
                for word in std::iter::once(program.as_os_str()).chain(args.iter().copied()) {
                    script.push(' ');
                    script.push_str(&shell_quote(&word.to_string_lossy()));
                }
                let mut c = Command::new("su");
                c.args([OS_USER, "-s", "/bin/sh", "-c", &script]);
                c
            }
            _ => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        }
    }
}

/// Decides who runs the server: ourselves, or (as root) the `postgres` user, whose uid/gid then
/// own the temp dir.
#[cfg(unix)]
pub(super) fn server_user() -> Result<(RunAs, Option<(u32, u32)>), ClusterError> {
    if effective_uid() != Some(0) {
        return Ok((RunAs::Current, None));
    }
    let id = |flag: &str| -> Result<u32, ClusterError> {
        let out = Command::new("id").args([flag, OS_USER]).output();
        let detail = match out {
            Ok(o) if o.status.success() => match String::from_utf8_lossy(&o.stdout).trim().parse() {
                Ok(n) => return Ok(n),
                Err(e) => format!("`id {flag} {OS_USER}` printed no number: {e}"),
            },
            Ok(o) => format!("`id {flag} {OS_USER}`: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("running `id`: {e}"),
        };
        Err(ClusterError::NoPostgresUser { detail })
    };
    let owner = (id("-u")?, id("-g")?);
    let search = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from).into_iter().chain(path_dirs());
    let run_as = search.map(|d| d.join("runuser")).find(|p| is_executable(p)).map_or(RunAs::Su, RunAs::Runuser);
    Ok((run_as, Some(owner)))
}

/// Windows: always ourselves (see the module comment).
#[cfg(not(unix))]
pub(super) fn server_user() -> Result<(RunAs, Option<(u32, u32)>), ClusterError> {
    Ok((RunAs::Current, None))
}

/// Lets the server user enter and write in `dir`: mode 755, and owned by `owner` when root hands it
/// over. Windows: a temp dir the current user created is already its own.
#[cfg(unix)]
pub(super) fn hand_over(dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(dir, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
pub(super) fn hand_over(_dir: &Path, _owner: Option<(u32, u32)>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn effective_uid() -> Option<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        return line.split_whitespace().nth(2)?.parse().ok();
    }
    let out = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// As root the server runs as `postgres`, which needs search permission on every ancestor.
#[cfg(unix)]
pub(super) fn traversable_by_others(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

#[cfg(not(unix))]
pub(super) fn traversable_by_others(_dir: &Path) -> bool {
    true
}

pub(super) fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

#[cfg(unix)]
pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Windows has no executable bit: the `.exe` file existing is what counts.
#[cfg(not(unix))]
pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file())
}

#[cfg(unix)]
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(super::shell_quote("a'b"), r"'a'\''b'");
    }
}
