//! Through a connection pooler in transaction mode (Supabase's on port 6543, PgBouncer), a fresh
//! deployment syncs both ways and a second run finds nothing to do: nothing relies on session
//! state or on prepared statements surviving between transactions.

mod support;

use pgbisync_runtime::ConnectionUrl;
use pgbisync_runtime::Connections;
use pgbisync_runtime::Status;
use pgbisync_runtime::{Direction, Side};
use support::pooler::Pooler;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_deployment_syncs_both_ways_through_a_transaction_mode_pooler() {
    let (pair, _) = Pair::with_sample(small_sample()).await;
    let upstream = pair.cloud.port();
    let pooler = tokio::task::spawn_blocking(move || Pooler::start(upstream)).await.unwrap();
    let connect = || async {
        Connections::open(
            ConnectionUrl::new(Side::Desktop, pair.desktop_url()),
            ConnectionUrl::new(Side::Cloud, pooler.url()),
        )
        .await
        .expect("connecting through the pooler")
    };
    // Other clients keep the pool's server connections busy, so consecutive transactions of one
    // client land on different server connections, as they do on a shared production pooler.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Stopped on the way out of a failing assertion too, or the spinning clients hang the test.
    let _stop_on_panic = StopOnDrop(stop.clone());
    let mut noise = Vec::new();
    for _ in 0..3 {
        let (url, stop) = (pooler.url(), stop.clone());
        noise.push(tokio::spawn(async move {
            let client = support::connect(&url).await;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.simple_query("SELECT pg_sleep(0.001)").await;
            }
        }));
    }
    let options = pgbisync_runtime::SyncOptions { tenant: Some(TENANT.into()), ..Default::default() };
    let both = [Direction::Forward, Direction::Reverse];

    for pass in 0..2 {
        let mut connections = connect().await;
        let run = pgbisync_runtime::sync(&pair.program, &mut connections, &both, &options, &pgbisync_runtime::Silent);
        // A statement prepared on one server connection and bound on another hangs or fails.
        let report = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("pass {pass} hung behind the pooler\npooler log:\n{}", pooler.log()))
            .unwrap_or_else(|e| panic!("pass {pass}: {e}\npooler log:\n{}", pooler.log()));
        let tables = flatten(report.directions);
        assert_eq!(tables.len(), 25);
        for t in &tables {
            assert_ne!(
                t.status,
                Status::Failed,
                "pass {pass}: {} {}: {:?}\npooler log:\n{}",
                t.direction,
                t.table,
                t.error,
                pooler.log()
            );
            if pass == 1 {
                assert_eq!(t.rows_written, 0, "{} {}: a second run rewrites nothing", t.direction, t.table);
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for n in noise {
        n.await.unwrap();
    }
    let cloud = pair.cloud_client().await;
    assert_eq!(count(&cloud, "_sync_metadata WHERE status IN ('ok', 'partial')").await, 16);
    assert!(count(&cloud, "jobshead WHERE source = 'D'").await > 0);
}

/// Sets its flag when dropped.
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
