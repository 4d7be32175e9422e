//! CONTRACT §4 `/events` and §6 `/mic`: the SSE head, ids, replay, pings, caps.

use std::time::Duration;

use serde_json::json;

use crate::support::{FakeYouTube, SseReader, TestServer};

const T: Duration = Duration::from_secs(5);
const DOMAIN: &str = "https://app.example";

#[test]
fn the_stream_starts_with_connected_and_has_the_sse_head() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let auth = format!("Bearer {}", s.token);
    let sse = SseReader::open(srv.addr, "/events", &[("Authorization", &auth)]);
    assert_eq!(sse.head.header("content-type"), Some("text/event-stream"));
    assert_eq!(sse.head.header("cache-control"), Some("no-cache"));
    assert_eq!(sse.head.header("x-accel-buffering"), Some("no"));
    let c = sse.expect(T);
    assert_eq!(c.event, "connected");
    assert_eq!(c.data, json!({ "sessionId": s.id, "micHolder": null }));
    assert!(c.id.is_some());
}

#[test]
fn missing_bad_or_dead_tokens_are_401() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    for path in ["/events", "/events?token=", "/events?token=abc.def.ghi"] {
        let r = SseReader::try_open(srv.addr, path, &[])
            .err()
            .map(|r| r.status);
        assert_eq!(r, Some(401), "{path}");
    }
}

#[test]
fn ids_increase_and_a_reconnect_replays_what_it_missed() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let first = srv.events(&s.token);
    let _ = &fake;
    first.expect(T);
    let mut last = 0;
    for i in 0..3 {
        srv.captions(&s.token, json!([{ "text": format!("a{i}") }]));
        let e = first.until("caption_result", T);
        let id = e.id.unwrap_or(0);
        assert!(id > last, "ids must increase");
        last = id;
    }
    // A second listener shows when the missed results have been published.
    let watcher = srv.events(&s.token);
    watcher.expect(T);
    first.close();
    let mut missed = Vec::new();
    for i in 0..2 {
        let r = srv.captions(&s.token, json!([{ "text": format!("b{i}") }]));
        missed.push(r.json()["requestId"].clone());
        watcher.until("caption_result", T);
    }
    let last_id = last.to_string();
    let again = SseReader::open(
        srv.addr,
        &format!("/events?token={}", s.token),
        &[("Last-Event-ID", &last_id)],
    );
    assert_eq!(again.expect(T).event, "connected");
    let replayed: Vec<_> = (0..2).map(|_| again.expect(T)).collect();
    assert_eq!(
        replayed
            .iter()
            .map(|e| e.data["requestId"].clone())
            .collect::<Vec<_>>(),
        missed
    );
    assert!(replayed
        .iter()
        .all(|e| e.event == "caption_result" && e.id.unwrap_or(0) > last));
    srv.captions(&s.token, json!([{ "text": "new" }]));
    assert_eq!(again.expect(T).event, "caption_result");
    assert!(
        again.next(Duration::from_millis(300)).is_none(),
        "nothing replayed twice"
    );
}

#[test]
fn idle_streams_get_ping_comments() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("SSE_PING_INTERVAL", "100")]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    sse.expect(T);
    let e = sse.next_any(T).unwrap_or_else(|| panic!("no ping"));
    assert_eq!(
        (e.event.as_str(), e.data.as_str()),
        (":comment", Some(": ping"))
    );
}

#[test]
fn listener_caps_are_503() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(
        &fake.url(),
        &[
            ("MAX_LISTENERS_PER_SESSION", "2"),
            ("MAX_LISTENERS", "3"),
            ("SSE_PING_INTERVAL", "100"),
        ],
    );
    let key = srv.create_key(json!({}));
    let a = srv.register(&key, "a", DOMAIN);
    let b = srv.register(&key, "b", DOMAIN);
    let path = |t: &str| format!("/events?token={t}");
    let a1 = srv.events(&a.token);
    let _a2 = srv.events(&a.token);
    let r = SseReader::try_open(srv.addr, &path(&a.token), &[]).err();
    assert_eq!(r.map(|r| r.status), Some(503));
    let _b1 = srv.events(&b.token);
    let r = SseReader::try_open(srv.addr, &path(&b.token), &[]).err();
    assert_eq!(r.map(|r| r.status), Some(503), "server-wide cap");
    // A listener that goes away frees its place (its next ping fails).
    a1.expect(T);
    a1.close();
    crate::support::eventually(T, "a freed listener place", || {
        SseReader::try_open(srv.addr, &path(&b.token), &[]).ok()
    });
}

#[test]
fn mic_claims_and_releases_are_broadcast() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    sse.expect(T);
    let mic = |body: serde_json::Value| srv.bearer("POST", "/mic", &s.token, Some(&body));
    for bad in [
        json!({}),
        json!({ "action": "grab", "clientId": "a" }),
        json!({ "action": "claim" }),
        json!({ "action": "claim", "clientId": 3 }),
    ] {
        assert_eq!(mic(bad.clone()).status, 400, "{bad}");
    }
    assert_eq!(
        mic(json!({ "action": "claim", "clientId": "alice" })).json(),
        json!({ "ok": true, "holder": "alice" })
    );
    assert_eq!(sse.until("mic_state", T).data, json!({ "holder": "alice" }));
    assert_eq!(
        mic(json!({ "action": "release", "clientId": "bob" })).json()["holder"],
        json!("alice")
    );
    assert_eq!(sse.until("mic_state", T).data, json!({ "holder": "alice" }));
    let late = srv.events(&s.token);
    assert_eq!(late.expect(T).data["micHolder"], json!("alice"));
    assert_eq!(
        mic(json!({ "action": "claim", "clientId": "bob" })).json()["holder"],
        json!("bob")
    );
    assert_eq!(
        mic(json!({ "action": "release", "clientId": "bob" })).json()["holder"],
        json!(null)
    );
    assert_eq!(late.until("mic_state", T).data, json!({ "holder": "bob" }));
    assert_eq!(late.until("mic_state", T).data, json!({ "holder": null }));
}
