//! The binary as a process: configuration errors exit 2, the startup summary.

use std::process::Command;

use crate::support::{FakeYouTube, TestServer};

#[test]
fn a_malformed_variable_exits_2_naming_it() {
    for (var, value) in [
        ("PORT", "abc"),
        ("SESSION_TTL", "soon"),
        ("LOG_LEVEL", "loud"),
        ("YOUTUBE_INGEST_URL", "ftp://x"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lcyt-backend"))
            .env_clear()
            .env(var, value)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[test]
fn startup_logs_every_setting_and_warns_about_a_generated_secret() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("JWT_SECRET", "")]);
    let log = srv.log();
    for name in [
        "PORT=",
        "HOST=",
        "DB_PATH=",
        "JWT_SECRET=generated",
        "ADMIN_KEY=set",
        "SESSION_TTL=",
        "CLEANUP_INTERVAL=",
        "REVOKED_KEY_TTL_DAYS=",
        "REVOKED_KEY_CLEANUP_INTERVAL=",
        "ALLOWED_DOMAINS=",
        "USAGE_PUBLIC=",
        "STATIC_DIR=",
        "FREE_APIKEY_ACTIVE=",
        "YOUTUBE_INGEST_URL=",
        "WORKERS=",
        "SESSION_QUEUE_MAX=",
        "MAX_LISTENERS=",
        "INGEST_TIMEOUT=",
        "SOCKET_TIMEOUT=",
    ] {
        assert!(log.contains(name), "startup log lacks {name}");
    }
    assert!(log.contains("tokens will not survive a restart"));
}

#[test]
fn the_database_is_created_with_every_table_in_wal_mode() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let tables = srv.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    let names: Vec<&str> = tables.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "api_keys",
            "auth_events",
            "caption_errors",
            "caption_usage",
            "domain_hourly_stats",
            "session_stats"
        ]
    );
    assert_eq!(
        srv.rows("PRAGMA journal_mode"),
        vec![vec!["wal".to_string()]]
    );
}

#[test]
fn static_files_are_served_from_static_dir() {
    let fake = FakeYouTube::start();
    let dir = crate::support::server::temp_dir();
    std::fs::write(dir.join("index.html"), "<h1>captions</h1>").unwrap_or_else(|e| panic!("{e}"));
    let srv = TestServer::start(
        &fake.url(),
        &[("STATIC_DIR", dir.to_str().unwrap_or_default())],
    );
    let r = srv.get("/", &[]);
    assert_eq!((r.status, r.body.as_str()), (200, "<h1>captions</h1>"));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(srv.get("/../../etc/passwd", &[]).status, 404);
    assert_eq!(srv.get("/missing.js", &[]).status, 404);
}
