//! Classifying and describing database errors.

use tokio_postgres::error::SqlState;

/// The server's message with its detail and hint, or the client-side error.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            if let Some(cause) = setting_cause(db.code()) {
                s.push_str(&format!("; {cause}"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            s
        }
    }
}

/// The session setting behind an error that the same statement would meet again.
fn setting_cause(code: &SqlState) -> Option<&'static str> {
    match *code {
        SqlState::QUERY_CANCELED => Some(
            "cause: the statement ran longer than statement_timeout allows (`SHOW statement_timeout`); a timeout \
             set on the role or database (ALTER ROLE ... SET statement_timeout) applies to pgbisync too, so \
             raise it for pgbisync's role (ALTER ROLE <role> SET statement_timeout = '1h') or run at a quieter time",
        ),
        SqlState::LOCK_NOT_AVAILABLE => Some(
            "cause: another session held a lock longer than lock_timeout allows; find it in pg_stat_activity \
             (state 'idle in transaction', or a migration) and end it, or run again later",
        ),
        _ => None,
    }
}

/// Worth retrying after a pause: the connection dropped, the server restarted, or a concurrent
/// transaction forced a rollback. A cancelled statement is not: a statement timeout cancels the
/// same statement again on every attempt, and an operator's cancel means stop.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08")
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
        }
        // No SQLSTATE: an I/O error on the socket.
        None => e.as_db_error().is_none() && std::error::Error::source(e).is_some(),
    }
}

/// SQLSTATE classes a row's data causes on its way into the target: bad values (22), constraint
/// violations (23), a trigger's own refusal (27 triggered data change, 38/39 from a function, 44
/// check option, P0 a PL/pgSQL `RAISE`). The apply step isolates such rows and sets them aside; any
/// other error (the connection, the server, a privilege) fails the table.
const ROW_ERROR_CLASSES: &[&str] = &["22", "23", "27", "38", "39", "44", "P0"];

/// A row-level problem the apply step can set aside.
pub fn is_row_error(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| ROW_ERROR_CLASSES.iter().any(|class| c.code().starts_with(class)))
}

/// For a privilege error, which side refused and what to grant there; empty otherwise.
pub fn privilege_note(side: crate::spec::Side, e: &tokio_postgres::Error) -> String {
    if !is_permission_denied(e) {
        return String::new();
    }
    format!(
        "; the {side} refused it: grant pgbisync's role there what the sync needs (SELECT on the tables \
         it reads; SELECT, INSERT, UPDATE and DELETE on the tables it writes; CREATE on the schema for \
         its metadata), e.g. GRANT SELECT, INSERT, UPDATE, DELETE ON <table> TO <role>"
    )
}

pub fn is_permission_denied(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
}
