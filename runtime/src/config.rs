//! Where connection URLs and the tenant value come from: flags, then the environment, then a `.env`
//! file in the working directory. URLs are secrets: they print only with the password masked.

use std::fmt;

use crate::program::Program;
use crate::spec::{ManifestSpec, Side};

/// A libpq-style connection URL. `Display` and `Debug` mask the password.
#[derive(Clone)]
pub struct ConnectionUrl {
    pub side: Side,
    raw: String,
}

impl ConnectionUrl {
    pub fn new(side: Side, raw: impl Into<String>) -> Self {
        ConnectionUrl { side, raw: raw.into() }
    }

    /// The URL with its password; only for handing to the driver.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL with any password replaced by `***`, safe to print.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionUrl({}, {})", self.side, self.redacted())
    }
}

/// Masks the password of a URL (`scheme://user:password@host`) and of `password=` parameters.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map(|i| rest_start + i).unwrap_or(out.len());
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    for key in ["password=", "PASSWORD="] {
        let mut from = 0;
        while let Some(i) = out[from..].find(key) {
            let start = from + i + key.len();
            let end = out[start..].find(['&', ' ']).map(|j| start + j).unwrap_or(out.len());
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no {side} database URL: set the environment variable {env}{hint}, or pass --{side}-url")]
    MissingUrl { side: Side, env: &'static str, hint: DotenvHint },
    #[error("cannot read the env file {path} (--env-file or PGBISYNC_ENV_FILE): {why}; give the path of a file of NAME=value lines")]
    EnvFile { path: String, why: String },
    #[error("the manifest scopes every read and delete to one tenant, and {env} is not set: set {env} to this firm's {column} value (environment or .env)")]
    MissingTenant { env: &'static str, column: &'static str },
    #[error("{env}={value:?} does not fit the tenant column {column} ({sql_type}): {why}; the database would store another value and sync another firm's rows. Set {env} to this firm's {column} value")]
    BadTenant { env: &'static str, value: String, column: &'static str, sql_type: &'static str, why: String },
}

/// What to say about `.env` when a variable is missing: where to put it, or that the file has lines
/// that could not be read (the variable may be on one of them).
#[derive(Debug, Clone)]
pub struct DotenvHint {
    env: &'static str,
    unparsed: Option<Vec<usize>>,
}

impl fmt::Display for DotenvHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unparsed {
            Some(lines) => {
                let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
                write!(f, " (.env has line(s) that cannot be parsed: {}; fix them)", lines.join(", "))
            }
            None => write!(f, " (or put `{}=postgresql://...` in .env)", self.env),
        }
    }
}

/// Lines of `.env` that could not be parsed, recorded by [`load_dotenv`].
static UNPARSED: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Reads `file` (`--env-file`), which must exist, else `.env` from the working directory if there
/// is one; variables already set win. Each line stands alone: a line that cannot be parsed is
/// reported by its number (never its text: it may hold a password) and the others are still loaded.
pub fn load_dotenv(file: Option<&std::path::Path>) -> Result<(), ConfigError> {
    let path = file.unwrap_or(std::path::Path::new(".env"));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if file.is_some() => {
            return Err(ConfigError::EnvFile { path: path.display().to_string(), why: e.to_string() })
        }
        Err(_) => return Ok(()),
    };
    let mut unparsed = Vec::new();
    let items = match dotenvy::from_path_iter(path) {
        Ok(items) => items,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring .env");
            return Ok(());
        }
    };
    for item in items {
        match item {
            Ok((name, value)) => {
                if std::env::var_os(&name).is_none() {
                    std::env::set_var(name, value);
                }
            }
            Err(dotenvy::Error::LineParse(line, _)) => {
                let number = line_number(&text, &line);
                tracing::warn!(
                    ".env line {number} cannot be parsed (expected NAME=value); the other lines were loaded"
                );
                unparsed.push(number);
            }
            Err(e) => tracing::warn!(error = %e, "reading .env"),
        }
    }
    let _ = UNPARSED.set(unparsed);
    Ok(())
}

/// The 1-based number of the file line where `logical` (a parsed line, maybe spanning several) starts.
fn line_number(text: &str, logical: &str) -> usize {
    let first = logical.lines().next().unwrap_or("").trim_end();
    text.lines().position(|l| l.trim_end() == first).map(|i| i + 1).unwrap_or(0)
}

pub fn url(manifest: &ManifestSpec, side: Side, flag: Option<&str>) -> Result<ConnectionUrl, ConfigError> {
    let env = manifest.url_env(side);
    match flag.map(str::to_string).or_else(|| std::env::var(env).ok()).filter(|s| !s.trim().is_empty()) {
        Some(raw) => Ok(ConnectionUrl::new(side, raw)),
        None => {
            let unparsed = UNPARSED.get().filter(|l| !l.is_empty()).cloned();
            Err(ConfigError::MissingUrl { side, env, hint: DotenvHint { env, unparsed } })
        }
    }
}

/// The tenant value, when the manifest declares a tenant scope, checked against every type the
/// manifest gives its column.
pub fn tenant(program: &Program, flag: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(t) = program.manifest.tenant else { return Ok(None) };
    let Some(value) = flag.map(str::to_string).or_else(|| std::env::var(t.env).ok()).filter(|s| !s.trim().is_empty())
    else {
        return Err(ConfigError::MissingTenant { env: t.env, column: t.column });
    };
    let value = value.trim().to_string();
    let sides = program.tables.iter().flat_map(|table| [&table.spec().source, &table.spec().target]);
    for column in sides.flat_map(|side| side.columns.iter()).filter(|c| c.name == t.column) {
        if let Some(why) = crate::tenant::misfit(&value, column.sql_type) {
            return Err(ConfigError::BadTenant { env: t.env, value, column: t.column, sql_type: column.sql_type, why });
        }
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            redact("postgresql://app:s3cr3t@db.example.com:6543/postgres"),
            "postgresql://app:***@db.example.com:6543/postgres"
        );
        assert_eq!(redact("postgres://app@localhost/db"), "postgres://app@localhost/db");
        assert_eq!(redact("postgresql://u:p%40ss@h/db?sslmode=require"), "postgresql://u:***@h/db?sslmode=require");
        assert_eq!(redact("host=h user=u password=hunter2 dbname=d"), "host=h user=u password=*** dbname=d");
        assert_eq!(
            redact("postgresql://h/db?password=hunter2&sslmode=require"),
            "postgresql://h/db?password=***&sslmode=require"
        );
    }
}
