//! When the process is asked to stop: Ctrl-C, or SIGTERM (what systemd, `kill` and container
//! runtimes send). Both are handled alike: the pass in hand finishes (each table commits or rolls
//! back as a whole, and is recorded), then the command exits with the pass's code.

/// Resolves when a stop is requested.
pub(super) async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops a run cleanly");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
