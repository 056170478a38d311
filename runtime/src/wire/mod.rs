//! Wire-level types the generated code names, re-exported so the generated crate depends on the
//! runtime alone for them.

pub use tokio_postgres::types::{ToSql, Type};

pub mod binary_copy;
mod json;
mod numeric;
mod time;

pub use binary_copy::{CopyRow, DecodeError};
pub use json::RawJson;
pub use numeric::Numeric;
pub use time::PgTime;
