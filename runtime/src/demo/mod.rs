//! What `pgbisync demo` and the end-to-end tests need besides the engine: throwaway local
//! PostgreSQL servers ([`cluster`]) and databases shaped like a deployment, with sample data
//! ([`sample`]). Nothing here prints: the command line narrates.

pub mod cluster;
pub mod sample;

use cluster::{Cluster, ClusterError, ClusterOptions};

use crate::config::ConnectionUrl;
use crate::engine::db_error::describe;
use crate::engine::verify::VerifyError;
use crate::spec::Side;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo: {0}")]
    Cluster(#[from] ClusterError),
    #[error("demo: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("demo: {step}: {}", describe(.source))]
    Database {
        step: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("demo: verifying: {0}")]
    Verify(#[from] VerifyError),
}

impl DemoError {
    /// A database error of one step of the demo, for `map_err`.
    pub fn at(step: &'static str) -> impl Fn(tokio_postgres::Error) -> DemoError {
        move |source| DemoError::Database { step, source }
    }
}

/// The demo's two servers: a desktop in Asia/Kolkata and a cloud in UTC, as a deployment's differ.
pub struct DemoServers {
    pub desktop: Cluster,
    pub cloud: Cluster,
}

impl DemoServers {
    /// Starts both servers side by side.
    pub async fn start() -> Result<DemoServers, DemoError> {
        let start = |name: &'static str, tz: &'static str| {
            tokio::task::spawn_blocking(move || Cluster::start(ClusterOptions::new(name, tz)))
        };
        let (desktop, cloud) = tokio::join!(start("desktop", "Asia/Kolkata"), start("cloud", "UTC"));
        Ok(DemoServers { desktop: desktop??, cloud: cloud?? })
    }

    pub fn desktop_url(&self) -> ConnectionUrl {
        ConnectionUrl::new(Side::Desktop, self.desktop.url("postgres"))
    }

    pub fn cloud_url(&self) -> ConnectionUrl {
        ConnectionUrl::new(Side::Cloud, self.cloud.url("postgres"))
    }

    /// Stops both servers and deletes their files; a failure to stop is not worth reporting, the
    /// servers are dropped (and killed) anyway.
    pub async fn stop(self) {
        let _ = tokio::task::spawn_blocking(move || {
            let _ = self.desktop.stop();
            let _ = self.cloud.stop();
        })
        .await;
    }
}
