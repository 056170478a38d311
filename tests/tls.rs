//! TLS with rustls: `sslmode=require` encrypts (as libpq does, without checking the certificate),
//! `sslmode=verify-full` refuses a certificate no trusted authority signed, and a sync runs over TLS.

mod support;

use std::process::Command;

use pgbisync_runtime::connect;
use pgbisync_runtime::ConnectionUrl;
use pgbisync_runtime::Side;
use support::*;

/// Turns on TLS in a running test server with a fresh self-signed certificate.
async fn enable_tls(pair: &Pair) {
    let dir = pair.cloud.data_dir();
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(dir.join("server.key"))
        .arg("-out")
        .arg(dir.join("server.crt"))
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(status.status.success(), "openssl: {}", String::from_utf8_lossy(&status.stderr));
    // The server reads the key only if its owner (the server's user) alone can.
    let owner = std::fs::metadata(dir).unwrap();
    for f in ["server.key", "server.crt"] {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let path = dir.join(f);
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cloud = pair.cloud_client().await;
    // One statement per call: ALTER SYSTEM cannot run in the implicit transaction of a batch.
    for setting in ["ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'", "ssl = on"] {
        cloud.batch_execute(&format!("ALTER SYSTEM SET {setting}")).await.unwrap();
    }
    let reloaded: bool = scalar(&cloud, "SELECT pg_reload_conf()").await;
    assert!(reloaded);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

async fn encrypted(url: &str) -> Result<bool, String> {
    let client = connect(&ConnectionUrl::new(Side::Cloud, url)).await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_verify_full_checks_the_certificate_and_a_sync_runs_over_tls() {
    let pair = Pair::with_schema().await;
    enable_tls(&pair).await;
    let base = format!("postgresql://postgres:hunter2@localhost:{}/postgres", pair.cloud.port());

    assert_eq!(encrypted(&format!("{base}?sslmode=require")).await, Ok(true), "require encrypts");
    assert_eq!(encrypted(&format!("{base}?sslmode=disable")).await, Ok(false), "disable does not");
    let refused =
        encrypted(&format!("{base}?sslmode=verify-full")).await.expect_err("a self-signed certificate is not trusted");
    assert!(refused.contains("cannot connect to the cloud database"), "{refused}");
    assert!(refused.to_lowercase().contains("certificate") || refused.contains("UnknownIssuer"), "{refused}");
    assert!(!refused.contains("hunter2"), "the password never appears: {refused}");

    let desktop = pair.desktop_client().await;
    desktop.batch_execute("INSERT INTO orgmaster (org_id, orgname) VALUES (1, 'over tls')").await.unwrap();
    let code = pair
        .cli_with_urls(&pair.desktop_url(), &format!("{base}?sslmode=require"), &["forward", "--table", "orgmaster"])
        .await;
    assert_eq!(code, 0);
    assert_eq!(count(&pair.cloud_client().await, "orgmaster WHERE orgname = 'over tls'").await, 1);
}
