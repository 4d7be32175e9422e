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

#[test]
fn sigterm_with_open_streams_and_queued_captions_exits_0_having_ended_every_session() {
    use std::time::{Duration, Instant};

    use crate::support::Behavior;
    let fake = FakeYouTube::start();
    let mut srv = TestServer::start(
        &fake.url(),
        &[("DRAIN_TIMEOUT", "5000"), ("INGEST_TIMEOUT", "10000")],
    );
    let key = srv.create_key(serde_json::json!({}));
    let a = srv.register(&key, "a", "https://a.example");
    let b = srv.register(&key, "b", "https://b.example");
    let (sse_a, sse_b) = (srv.events(&a.token), srv.events(&b.token));
    // Session a: its endpoint is slow, so captions are still queued at the signal.
    fake.for_cid("a", Behavior::Delay(Duration::from_millis(400)));
    // Session b: its endpoint never answers; shutdown must not wait for it.
    fake.for_cid("b", Behavior::Stall);
    for i in 0..5 {
        assert_eq!(
            srv.captions(&a.token, serde_json::json!([{ "text": format!("a{i}") }]))
                .status,
            202
        );
    }
    assert_eq!(
        srv.captions(&b.token, serde_json::json!([{ "text": "b" }]))
            .status,
        202
    );
    let started = Instant::now();
    srv.signal("TERM");
    let code = srv.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "exit within 5 s; log:\n{}", srv.log());
    assert!(started.elapsed() < Duration::from_secs(5));
    sse_a.until("session_closed", Duration::from_secs(1));
    sse_b.until("session_closed", Duration::from_secs(1));
    let mut rows = srv.rows("SELECT session_id, ended_by FROM session_stats ORDER BY session_id");
    rows.sort();
    let mut want = vec![
        vec![a.id.clone(), "shutdown".to_string()],
        vec![b.id.clone(), "shutdown".to_string()],
    ];
    want.sort();
    assert_eq!(rows, want);
    // Everything a accepted was either delivered or reported failed.
    let counts = srv.rows(&format!(
        "SELECT captions_sent + captions_failed FROM session_stats WHERE session_id = '{}'",
        a.id
    ));
    assert_eq!(counts, vec![vec!["5".to_string()]]);
}

#[test]
fn sigint_on_an_idle_server_exits_0() {
    let fake = FakeYouTube::start();
    let mut srv = TestServer::start(&fake.url(), &[]);
    srv.signal("INT");
    assert_eq!(srv.wait_exit(std::time::Duration::from_secs(5)), Some(0));
    assert!(srv.log().contains("shutdown complete"));
}
