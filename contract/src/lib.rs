//! The seam between `pgbisync-codegen` (which writes SQL) and `pgbisync-runtime` (which runs it):
//! the vocabulary both use, defined once. Neither crate retypes a name from here.

mod kinds;
pub mod names;

pub use kinds::{Direction, Mode, Side, Strategy};
