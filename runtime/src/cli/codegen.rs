//! `pgbisync codegen`: the code generated from the manifest, as compiled into this binary.

use super::{exit, Invocation};

pub(super) fn run(inv: &Invocation<'_>) -> i32 {
    inv.out.codegen(inv.program.generated_source);
    exit::OK
}
