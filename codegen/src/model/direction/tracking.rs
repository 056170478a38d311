//! The column that tells when a source row last changed, and what the mode and strategy require.

use super::Context;
use crate::model::builder::{names, pos, Builder};
use crate::model::{Direction, Mode, Strategy};
use crate::types::PgType;

/// `track: xmin`: PostgreSQL's system column with the id of the transaction that wrote the row
/// version (no table can have a column of that name, so it cannot clash).
pub(in crate::model) const XMIN: &str = "xmin";

/// True when the direction tracks changes by transaction id.
pub(super) fn tracks_xmin(cx: &Context) -> bool {
    cx.d.value.track.as_ref().is_some_and(|t| t.value == XMIN)
}

impl Builder {
    /// The source column read as the tracking value, when `track:` names a usable one (not for
    /// `track: xmin`, which reads no column).
    pub(super) fn tracking(&mut self, cx: &Context) -> Option<String> {
        let t = cx.d.value.track.as_ref()?;
        if t.value == XMIN {
            return None;
        }
        let source = cx.source();
        match source.column(&t.value) {
            None => {
                self.error(
                    pos(t),
                    Some(cx.name()),
                    &cx.field("track"),
                    format!(
                        "tracking column `{}` is not a column of {} table `{}` (columns: {})",
                        t.value,
                        cx.dir.source().as_str(),
                        source.name,
                        names(&source.columns)
                    ),
                    "name a timestamptz column the source keeps current, e.g. updated_at, or use `track: xmin`",
                );
                None
            }
            Some(c) if c.ty != PgType::Timestamptz => {
                let naive = if c.ty == PgType::Timestamp {
                    "; a timestamp without time zone cannot be compared safely across servers"
                } else {
                    ""
                };
                self.error(
                    pos(t),
                    Some(cx.name()),
                    &cx.field("track"),
                    format!("tracking column `{}` is {}, not timestamptz{naive}", t.value, c.ty.canonical()),
                    "track a timestamptz column",
                );
                None
            }
            Some(c) => Some(c.name.clone()),
        }
    }

    pub(super) fn check_mode_and_strategy(&mut self, cx: &Context) {
        let d = &cx.d.value;
        let (mode, strategy) = (cx.mode(), cx.strategy());
        if mode == Mode::Incremental && d.track.is_none() {
            self.error(
                pos(&d.mode),
                Some(cx.name()),
                &cx.field("mode"),
                "incremental mode needs a tracking column, and none is given".into(),
                "add `track: updated_at` (a timestamptz column of the source), or use `mode: full`",
            );
        }
        if strategy == Strategy::ReplaceOrigin && mode == Mode::Incremental {
            self.error(
                pos(&d.strategy),
                Some(cx.name()),
                &cx.field("strategy"),
                "replace_origin deletes the sending side's rows and re-inserts the source set, so it must read \
                 the complete source set; an incremental read would delete every row not changed since the last run"
                    .into(),
                "use `mode: full` with replace_origin",
            );
        }
        if strategy == Strategy::ReplaceOrigin && cx.dir == Direction::Reverse {
            self.error(
                pos(&d.strategy),
                Some(cx.name()),
                &cx.field("strategy"),
                "replace_origin needs the origin column on the target to tell which rows the sending side owns, \
                 and the desktop has none"
                    .into(),
                "use insert_only or upsert for reverse tables",
            );
        }
    }
}
