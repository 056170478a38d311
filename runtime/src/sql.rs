//! Quoting for the few identifiers the engine itself puts into SQL (metadata and rejects tables).

pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
