//! A progress line for long tables, shown only on a terminal (stderr) and never in quiet or JSON
//! runs: the rows read so far and the time taken. It appears at the first progress report (after some
//! thousands of rows), so short tables never draw one.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    table: Option<String>,
    bar: OnceLock<ProgressBar>,
}

impl Progress {
    /// A progress line for `table`, drawn only when `enabled` and stderr is a terminal.
    pub fn start(table: &str, enabled: bool) -> Progress {
        let shown = enabled && std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress { table: shown.then(|| table.to_string()), bar: OnceLock::new() }
    }

    pub fn rows(&self, n: u64) {
        let Some(table) = &self.table else { return };
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {human_pos} rows read ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(table.clone());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        bar.set_position(n);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
