//! A progress line for long tables, shown only on a terminal (stderr) and never in quiet or JSON
//! runs: the rows read so far and the rate. Short tables finish before it ever draws.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line for `table`, drawn only when `enabled` and stderr is a terminal.
    pub fn start(table: &str, enabled: bool) -> Progress {
        if !enabled || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {human_pos} rows read ({per_sec}, {elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(table.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar: Some(bar) }
    }

    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    pub fn rows(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
