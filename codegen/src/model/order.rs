//! Parents before children: reference cycles are reported, and each direction's tables are put in
//! an order where every table comes after the tables it reads while applying.

use std::collections::{BTreeMap, BTreeSet};

use super::builder::{pos, Builder};
use super::{Table, TableDirection};
use crate::diagnostic::Position;
use crate::manifest;

impl Builder {
    pub(super) fn check_cycles(&mut self, tables: &[(Table, &manifest::Table)]) {
        let known: BTreeSet<&str> = tables.iter().map(|(t, _)| t.name.as_str()).collect();
        let mut edges: BTreeMap<&str, Vec<(&str, Position)>> = BTreeMap::new();
        for (t, def) in tables {
            for r in &def.references {
                let parent = r.value.table.value.as_str();
                if known.contains(parent) {
                    edges.entry(t.name.as_str()).or_default().push((parent, pos(&r.value.table)));
                }
            }
        }
        // Depth-first search; a back edge closes a cycle, reported once at the edge that closes it.
        fn visit<'a>(
            node: &'a str,
            edges: &BTreeMap<&'a str, Vec<(&'a str, Position)>>,
            state: &mut BTreeMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
            found: &mut Vec<(Vec<String>, Position, String)>,
        ) {
            state.insert(node, 1);
            path.push(node);
            for (next, at) in edges.get(node).into_iter().flatten() {
                match state.get(next).copied().unwrap_or(0) {
                    0 => visit(next, edges, state, path, found),
                    1 => {
                        let start = path.iter().position(|p| p == next).unwrap_or(0);
                        let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                        cycle.push(next.to_string());
                        found.push((cycle, *at, node.to_string()));
                    }
                    _ => {}
                }
            }
            path.pop();
            state.insert(node, 2);
        }
        let mut state = BTreeMap::new();
        let mut found = Vec::new();
        for (t, _) in tables {
            if state.get(t.name.as_str()).copied().unwrap_or(0) == 0 {
                visit(t.name.as_str(), &edges, &mut state, &mut Vec::new(), &mut found);
            }
        }
        for (cycle, at, table) in found {
            self.error(
                at,
                Some(&table),
                "references",
                format!("references form a cycle: {}", cycle.join(" -> ")),
                "remove one reference of the cycle; parents must sync before their children",
            );
        }
    }
}

/// Orders one direction's tables so every table comes after the tables it depends on, keeping the
/// manifest's order where the references leave a choice. Cycles were reported already.
pub(super) fn sync_order(list: Vec<TableDirection>) -> Vec<TableDirection> {
    let mut remaining = list;
    let mut ordered: Vec<TableDirection> = Vec::new();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|t| t.depends_on.iter().all(|d| !remaining.iter().any(|r| &r.table == d) || d == &t.table))
            .unwrap_or(0);
        ordered.push(remaining.remove(ready));
    }
    ordered
}
