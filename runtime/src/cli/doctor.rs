//! `pgbisync doctor`: the preflight. Unlike the other commands it goes on when a side cannot be
//! configured or reached: that becomes an item of the list, and the other side is still examined.

use super::error::CommandError;
use super::{exit, Invocation};
use crate::engine::connect;
use crate::engine::doctor::{self, Area, Finding, Reached, Severity};
use crate::spec::Side;

pub(super) async fn run(inv: &Invocation<'_>) -> Result<i32, CommandError> {
    let mut findings = Vec::new();
    if let Err(e) = inv.tenant() {
        findings.push(Finding::new(Severity::Problem, Area::Configuration, None, e.to_string()));
    }
    let mut open = Vec::new();
    for side in [Side::Desktop, Side::Cloud] {
        let url = match inv.url(side) {
            Ok(url) => url,
            Err(e) => {
                findings.push(Finding::new(Severity::Problem, Area::Configuration, Some(side), e.to_string()));
                continue;
            }
        };
        match connect(&url).await {
            Ok(client) => open.push((url, client)),
            Err(e) => {
                findings.push(Finding::new(Severity::Problem, Area::Connection, Some(side), e.to_string()).fix(
                    "check the host, port, user and password in the URL, and that the server accepts this machine",
                ))
            }
        }
    }
    let reached: Vec<Reached<'_>> = open.iter().map(|(url, client)| Reached { url, client }).collect();
    findings.extend(doctor::examine(inv.program, &reached).await);
    inv.out.doctor(&findings);
    Ok(if doctor::count(&findings, Severity::Problem) == 0 { exit::OK } else { exit::PARTIAL })
}
