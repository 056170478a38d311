//! Where connection URLs and the tenant value come from: flags, then the environment, then a `.env`
//! file in the working directory. URLs are secrets: they print only with the password masked.

use std::fmt;

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
    #[error("no {side} database URL: set the environment variable {env} (or put `{env}=postgresql://...` in .env), or pass --{side}-url")]
    MissingUrl { side: Side, env: &'static str },
    #[error("the manifest scopes every read and delete to one tenant, and {env} is not set: set {env} to this firm's {column} value (environment or .env)")]
    MissingTenant { env: &'static str, column: &'static str },
}

/// Reads `.env` from the working directory if there is one; variables already set win. A `.env`
/// that cannot be parsed is reported (its values could be the URLs the run needs), never printed.
pub fn load_dotenv() {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(dotenvy::Error::LineParse(_, index)) => {
            tracing::warn!(
                "ignoring .env: it cannot be parsed (near character {index}); expected lines such as NAME=value"
            )
        }
        Err(e) => tracing::warn!(error = %e, "ignoring .env"),
    }
}

pub fn url(manifest: &ManifestSpec, side: Side, flag: Option<&str>) -> Result<ConnectionUrl, ConfigError> {
    let env = manifest.url_env(side);
    match flag.map(str::to_string).or_else(|| std::env::var(env).ok()).filter(|s| !s.trim().is_empty()) {
        Some(raw) => Ok(ConnectionUrl::new(side, raw)),
        None => Err(ConfigError::MissingUrl { side, env }),
    }
}

/// The tenant value, when the manifest declares a tenant scope.
pub fn tenant(manifest: &ManifestSpec, flag: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(t) = manifest.tenant else { return Ok(None) };
    match flag.map(str::to_string).or_else(|| std::env::var(t.env).ok()).filter(|s| !s.trim().is_empty()) {
        Some(v) => Ok(Some(v.trim().to_string())),
        None => Err(ConfigError::MissingTenant { env: t.env, column: t.column }),
    }
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
