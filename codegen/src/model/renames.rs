//! A table's renamed shared columns, resolved in one place: every step that turns a desktop name
//! into a cloud name, or a manifest name into a direction's source or target name, asks here.

use std::collections::BTreeMap;

use super::Direction;
use crate::manifest;

/// Desktop name -> cloud name, for the shared columns the manifest renames.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Renames(BTreeMap<String, String>);

impl Renames {
    pub(super) fn of(def: &manifest::Table) -> Renames {
        Renames(def.renames.iter().map(|r| (r.value.desktop.value.clone(), r.value.cloud.value.clone())).collect())
    }

    /// The cloud name of a shared column, given its desktop name.
    pub fn to_cloud(&self, desktop: &str) -> String {
        self.0.get(desktop).cloned().unwrap_or_else(|| desktop.to_string())
    }

    /// A shared column (by desktop name) as a direction sees it: (source name, target name).
    pub fn for_direction(&self, dir: Direction, desktop: &str) -> (String, String) {
        let cloud = self.to_cloud(desktop);
        match dir {
            Direction::Forward => (desktop.to_string(), cloud),
            Direction::Reverse => (cloud, desktop.to_string()),
        }
    }

    /// The direction's source name of a shared column given by desktop name.
    pub fn to_source(&self, dir: Direction, desktop: &str) -> String {
        self.for_direction(dir, desktop).0
    }

    /// The direction's target name of a shared column given by desktop name.
    pub fn to_target(&self, dir: Direction, desktop: &str) -> String {
        self.for_direction(dir, desktop).1
    }
}
