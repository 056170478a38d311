//! The manifest's vocabulary: which way rows travel, between which sides, read how, written how.
//! The manifest deserializes into these, the model resolves with them, the engine runs by them.

use std::fmt;

/// Which way rows travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// desktop -> cloud; progress kept in the cloud.
    Forward,
    /// cloud -> desktop; progress kept on the desktop.
    Reverse,
}

impl Direction {
    pub const BOTH: [Direction; 2] = [Direction::Forward, Direction::Reverse];

    pub fn source(self) -> Side {
        match self {
            Direction::Forward => Side::Desktop,
            Direction::Reverse => Side::Cloud,
        }
    }

    pub fn target(self) -> Side {
        match self {
            Direction::Forward => Side::Cloud,
            Direction::Reverse => Side::Desktop,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        }
    }
}

/// One of the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Desktop,
    Cloud,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Desktop => "desktop",
            Side::Cloud => "cloud",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Read the complete source set every run.
    Full,
    /// Read rows changed since the watermark.
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Insert new keys, update changed rows, never touch rows born on the receiving side.
    Upsert,
    /// Replace the sending side's rows (within the tenant scope) by the complete source set.
    ReplaceOrigin,
    /// Insert rows whose key is absent; leave existing rows alone.
    InsertOnly,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Upsert => "upsert",
            Strategy::ReplaceOrigin => "replace_origin",
            Strategy::InsertOnly => "insert_only",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(Direction, Side, Mode, Strategy);
