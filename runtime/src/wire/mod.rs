//! Wire-level types the generated code names, re-exported so the generated crate depends on the
//! runtime alone for them.

pub use tokio_postgres::binary_copy::BinaryCopyOutRow;
pub use tokio_postgres::types::{ToSql, Type};
pub use tokio_postgres::Error;

mod json;
mod numeric;
mod time;

pub use json::RawJson;
pub use numeric::Numeric;
pub use time::PgTime;
