//! CONTRACT §1 and §7: JSON errors, 404/405, the body cap, 400s, cache headers, health,
//! contact, and no secrets in the log.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::support::client::read_response;
use crate::support::server::{ADMIN_KEY, JWT_SECRET};
use crate::support::{FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);

#[test]
fn unknown_path_is_json_404_and_wrong_method_is_405_with_allow() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let r = srv.get("/nope", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({ "error": "Not found" }));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = srv.send("PUT", "/health", &[], &json!({}));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    assert!(!r.error().is_empty());
    let r = srv.get("/captions", &[]);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
}

#[test]
fn body_over_64_kib_is_413() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let big = format!("{{\"owner\":\"{}\"}}", "x".repeat(64 * 1024));
    let r = crate::support::request(
        srv.addr,
        "POST",
        "/keys",
        &[("X-Admin-Key", ADMIN_KEY)],
        Some(&big),
    );
    assert_eq!(r.status, 413);
    assert!(r.error().contains("64 KiB"));
    assert_eq!(srv.admin("GET", "/keys", None).json()["keys"], json!([]));
}

/// tiny_http 0.12.0 allocated the declared length and aborted the process.
#[test]
fn regression_huge_declared_content_length_does_not_kill_the_server() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(T)).ok();
    let head = "POST /keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000000\r\n\r\n{";
    s.write_all(head.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let r = read_response(&mut s);
    assert_eq!(r.status, 413);
    assert_eq!(srv.get("/health", &[]).status, 200);
}

#[test]
fn malformed_bodies_are_400_naming_the_field() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let post = |body: &str| crate::support::request(srv.addr, "POST", "/live", &[], Some(body));
    let cases = [
        ("{", "Invalid JSON"),
        ("[1,2]", "JSON object"),
        (
            "{\"apiKey\": 5, \"streamKey\": \"s\", \"domain\": \"d\"}",
            "apiKey",
        ),
        ("{\"apiKey\": \"k\", \"domain\": \"d\"}", "streamKey"),
        (
            "{\"apiKey\": \"k\", \"streamKey\": \"s\", \"domain\": \"\"}",
            "domain",
        ),
        (
            "{\"apiKey\": \"k\", \"streamKey\": \"s\", \"domain\": \"d\", \"sequence\": -1}",
            "sequence",
        ),
        (
            "{\"apiKey\": \"k\", \"streamKey\": \"s\", \"domain\": \"d\", \"sequence\": \"1\"}",
            "sequence",
        ),
    ];
    for (body, field) in cases {
        let r = post(body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.error().contains(field), "{body}: {}", r.body);
    }
}

#[test]
fn health_reports_uptime_and_sessions() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let r = srv.get("/health", &[]);
    let j = r.json();
    assert_eq!(
        (r.status, &j["ok"], &j["activeSessions"]),
        (200, &json!(true), &json!(0))
    );
    assert!(j["uptime"].as_f64().is_some_and(|u| u >= 0.0));
    let key = srv.create_key(json!({}));
    srv.register(&key, "stream", "https://a.example");
    assert_eq!(srv.get("/health", &[]).json()["activeSessions"], json!(1));
}

#[test]
fn health_is_503_when_the_database_fails() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    assert_eq!(srv.get("/health", &[]).status, 200);
    // Damage the schema from outside: the health query can no longer run.
    srv.db()
        .execute_batch("DROP TABLE api_keys;")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = srv.get("/health", &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["ok"], json!(false));
    assert!(!r.error().is_empty());
}

#[test]
fn contact_lists_set_fields_and_caches() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(
        &fake.url(),
        &[
            ("CONTACT_NAME", "Church AV"),
            ("CONTACT_EMAIL", "av@example.org"),
        ],
    );
    let r = srv.get("/contact", &[]);
    assert_eq!(
        r.json(),
        json!({ "name": "Church AV", "email": "av@example.org" })
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let bare = TestServer::start(&fake.url(), &[]);
    assert_eq!(bare.get("/contact", &[]).json(), json!({}));
}

#[test]
fn secrets_never_reach_the_log() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("LOG_LEVEL", "trace")]);
    let key = srv.create_key(json!({ "key": "api-key-secret-value-9" }));
    let stream_key = "stream-key-secret-value-8";
    let s = srv.register(&key, stream_key, "https://a.example");
    let sse = srv.events(&s.token);
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "hello" }])).status,
        202
    );
    sse.until("caption_result", T);
    // A failing delivery logs its cause; the cause must not quote the URL either.
    fake.then(crate::support::Behavior::Status(500, String::new()));
    srv.captions(&s.token, json!([{ "text": "again" }]));
    sse.until("caption_error", T);
    srv.bearer("DELETE", "/live", &s.token, None);
    let log = srv.log();
    assert!(log.contains(&s.id), "log should name the session id");
    for secret in [
        key.as_str(),
        stream_key,
        s.token.as_str(),
        ADMIN_KEY,
        JWT_SECRET,
    ] {
        assert!(!log.contains(secret), "log contains a secret: {secret}");
    }
    assert!(log.contains("token=<redacted>"));
}
