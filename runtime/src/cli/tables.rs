//! `pgbisync tables`: the compiled tables in sync order.

use super::{exit, Invocation};

pub(super) fn run(inv: &Invocation<'_>) -> i32 {
    inv.out.tables(inv.program);
    exit::OK
}
