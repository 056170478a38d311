//! Which rows of each side a table-direction's statements may read or touch, as conditions.

use super::fragment::{cast_setting, ident, setting};
use super::names::{ORIGIN_CLOUD, ORIGIN_DESKTOP, TENANT};
use crate::model::{Direction, TableDirection};

/// The rows of the source in scope for a direction, as conditions on its unaliased columns.
pub(crate) fn source_filters(t: &TableDirection) -> Vec<String> {
    let mut filters = Vec::new();
    if t.direction == Direction::Reverse {
        // Only rows born in the cloud travel back, so nothing echoes.
        filters.push(format!("{} = {}", ident(&t.origin_column), setting(ORIGIN_CLOUD)));
    }
    if let Some(tenant) = &t.tenant_source {
        filters.push(format!("{} = {}", ident(&tenant.name), cast_setting(TENANT, tenant)));
    }
    filters
}

/// The target rows of the run's tenant, over alias `alias`.
pub(crate) fn tenant_filter(t: &TableDirection, alias: &str) -> Option<String> {
    t.tenant_target.as_ref().map(|c| format!("{alias}.{} = {}", ident(&c.name), cast_setting(TENANT, c)))
}

/// Rows of target `t` the sending side owns: its origin, within the tenant scope.
pub(crate) fn owned_filters(t: &TableDirection) -> Vec<String> {
    let mut f = vec![format!("t.{} = {}", ident(&t.origin_column), setting(ORIGIN_DESKTOP))];
    f.extend(tenant_filter(t, "t"));
    f
}
