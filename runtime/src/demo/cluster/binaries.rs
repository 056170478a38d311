//! Finding the PostgreSQL server binaries: an explicit directory, else the installed versions
//! newest first, else `pg_config` and the `PATH`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::user::{is_executable, path_dirs};
use super::{ClusterError, PG_BIN_ENV};

/// The binaries one cluster uses, all from one installation where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binaries {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
    pub psql: PathBuf,
}

/// The directories to search, in order. An explicit PGBISYNC_PG_BIN is the only candidate: a wrong
/// override should fail loudly rather than quietly run some other installation.
fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_ENV).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(versions_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((version_key(e.file_name().to_str()?)?, e.path().join("bin"))))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    let mut dirs: Vec<PathBuf> = versions.into_iter().map(|(_, d)| d).collect();
    if cfg!(unix) {
        dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !dir.is_empty() {
            dirs.push(PathBuf::from(dir));
        }
    }
    dirs.extend(path_dirs());
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Where installers put one directory per major version: Debian's packages, or the EDB installer
/// on Windows (`C:\Program Files\PostgreSQL\15\bin`).
fn versions_dir() -> PathBuf {
    if cfg!(windows) {
        let program_files = std::env::var_os("ProgramFiles").unwrap_or_else(|| r"C:\Program Files".into());
        PathBuf::from(program_files).join("PostgreSQL")
    } else {
        PathBuf::from("/usr/lib/postgresql")
    }
}

/// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version dir.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

pub(super) fn find_binaries() -> Result<Binaries, ClusterError> {
    find_binaries_in(&candidate_dirs())
}

/// The first directory holding initdb, pg_ctl and postgres; psql from the same one, else from any
/// candidate.
fn find_binaries_in(candidates: &[PathBuf]) -> Result<Binaries, ClusterError> {
    let has = |dir: &Path, name: &str| is_executable(&dir.join(exe(name)));
    let not_found = || ClusterError::BinariesNotFound { searched: candidates.to_vec() };
    let server =
        candidates.iter().find(|d| ["initdb", "pg_ctl", "postgres"].iter().all(|b| has(d, b))).ok_or_else(not_found)?;
    let psql_dir = std::iter::once(server).chain(candidates).find(|d| has(d, "psql")).ok_or_else(not_found)?;
    Ok(Binaries {
        initdb: server.join(exe("initdb")),
        pg_ctl: server.join(exe("pg_ctl")),
        psql: psql_dir.join(exe("psql")),
    })
}

/// A program's file name on this platform (`initdb.exe` on Windows).
fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_search_and_the_fix() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_binaries_in(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(matches!(&err, ClusterError::BinariesNotFound { searched } if searched.len() == 1));
        let msg = err.to_string();
        assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
        assert!(msg.contains("apt-get install postgresql") && msg.contains(PG_BIN_ENV), "{msg}");
        assert!(find_binaries_in(&[]).unwrap_err().to_string().contains("no candidate"));
    }

    #[test]
    fn version_dirs_sort_by_number() {
        assert_eq!(version_key("15"), Some(vec![15]));
        assert_eq!(version_key("9.6"), Some(vec![9, 6]));
        assert_eq!(version_key("common"), None);
        assert!(version_key("10") > version_key("9.6"));
    }
}
