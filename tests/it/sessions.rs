//! CONTRACT §3: registration, tokens bound to a session instance, GET/PATCH/DELETE
//! /live, clock sync, TTL expiry.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{base64url_decode, eventually, Behavior, FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);
const DOMAIN: &str = "https://app.example";

fn setup() -> (FakeYouTube, TestServer, String) {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    (fake, srv, key)
}

#[test]
fn register_returns_a_token_without_keys_and_the_contract_session_id() {
    let (_fake, srv, key) = setup();
    let s = srv.register(&key, "my-stream", DOMAIN);
    let want_id = lcyt_backend::session::session_id(
        &lcyt_backend::secret::ApiKey::new(key.as_str()),
        &lcyt_backend::secret::StreamKey::new("my-stream"),
        DOMAIN,
    );
    assert_eq!(s.id, want_id);
    assert_eq!(s.body["sequence"], json!(0));
    assert!(s.body["syncOffset"].is_i64());
    let started = s.body["startedAt"].as_str().unwrap_or_default();
    assert!(started.ends_with('Z') && started.len() == 24, "{started}");
    let parts: Vec<&str> = s.token.split('.').collect();
    let header: Value = serde_json::from_slice(&base64url_decode(parts[0])).unwrap_or(Value::Null);
    let claims: Value = serde_json::from_slice(&base64url_decode(parts[1])).unwrap_or(Value::Null);
    assert_eq!(header["alg"], json!("HS256"));
    assert_eq!(claims["sessionId"], json!(s.id));
    assert!(claims["jti"].is_string() && claims["iat"].is_i64());
    let text = claims.to_string();
    assert!(
        !text.contains(&key) && !text.contains("my-stream"),
        "{text}"
    );
    let events = srv.rows("SELECT event_type, domain FROM auth_events");
    assert_eq!(
        events,
        vec![vec!["session_start".to_string(), DOMAIN.to_string()]]
    );
    let hourly = srv.rows("SELECT sessions_started, peak_sessions FROM domain_hourly_stats");
    assert_eq!(hourly, vec![vec!["1".to_string(), "1".to_string()]]);
}

#[test]
fn registering_again_is_idempotent() {
    let (_fake, srv, key) = setup();
    let a = srv.register(&key, "s", DOMAIN);
    assert_eq!(
        srv.bearer("PATCH", "/live", &a.token, Some(&json!({ "sequence": 7 })))
            .status,
        200
    );
    let b = srv.register(&key, "s", DOMAIN);
    assert_eq!(
        (a.token.as_str(), a.id.as_str()),
        (b.token.as_str(), b.id.as_str())
    );
    assert_eq!(b.body["sequence"], json!(7));
    assert_eq!(b.body["startedAt"], a.body["startedAt"]);
    assert_eq!(srv.get("/health", &[]).json()["activeSessions"], json!(1));
    // Another domain is another session.
    let c = srv.register(&key, "s", "https://other.example");
    assert_ne!(c.id, a.id);
}

#[test]
fn unknown_revoked_expired_and_exhausted_keys_are_refused_with_an_event() {
    let (_fake, srv, _key) = setup();
    let expired = srv.create_key(json!({ "expires": "2020-01-01" }));
    let revoked = srv.create_key(json!({}));
    assert_eq!(
        srv.admin("DELETE", &format!("/keys/{revoked}"), None)
            .status,
        200
    );
    let exhausted = srv.create_key(json!({ "lifetime_limit": 0 }));
    let daily = srv.create_key(json!({ "daily_limit": 0 }));
    let cases = [
        ("no-such-key", 401, "unknown", "unknown_key"),
        (revoked.as_str(), 401, "revoked", "revoked"),
        (expired.as_str(), 401, "expired", "expired"),
        (
            exhausted.as_str(),
            429,
            "lifetime_limit_exceeded",
            "lifetime_limit_exceeded",
        ),
        (
            daily.as_str(),
            429,
            "daily_limit_exceeded",
            "daily_limit_exceeded",
        ),
    ];
    for (key, status, word, event) in cases {
        let r = srv.send(
            "POST",
            "/live",
            &[],
            &json!({ "apiKey": key, "streamKey": "s", "domain": DOMAIN }),
        );
        assert_eq!(r.status, status, "{key}: {}", r.body);
        assert!(r.error().to_lowercase().contains(word), "{key}: {}", r.body);
        let rows = srv.rows(&format!(
            "SELECT event_type FROM auth_events WHERE api_key = '{key}'"
        ));
        assert_eq!(rows, vec![vec![event.to_string()]], "{key}");
    }
}

#[test]
fn get_and_patch_live() {
    let (fake, srv, key) = setup();
    let s = srv.register(&key, "s", DOMAIN);
    let r = srv.bearer("GET", "/live", &s.token, None);
    assert_eq!(
        r.json(),
        json!({ "sequence": 0, "syncOffset": s.body["syncOffset"] })
    );
    for bad in [
        json!({ "sequence": -1 }),
        json!({ "sequence": "3" }),
        json!({ "sequence": 1.5 }),
    ] {
        assert_eq!(
            srv.bearer("PATCH", "/live", &s.token, Some(&bad)).status,
            400,
            "{bad}"
        );
    }
    let r = srv.bearer("PATCH", "/live", &s.token, Some(&json!({ "sequence": 42 })));
    assert_eq!(r.json(), json!({ "sequence": 42 }));
    assert_eq!(srv.captions(&s.token, json!([{ "text": "a" }])).status, 202);
    assert_eq!(fake.next_captions(T).map(|r| r.seq), Some(42));
    let seq = eventually(T, "sequence 43", || {
        let v = srv.bearer("GET", "/live", &s.token, None).json()["sequence"].clone();
        (v == json!(43)).then_some(v)
    });
    assert_eq!(seq, json!(43));
}

#[test]
fn register_with_a_starting_sequence() {
    let (fake, srv, key) = setup();
    let r = srv.send(
        "POST",
        "/live",
        &[],
        &json!({ "apiKey": key, "streamKey": "s", "domain": DOMAIN, "sequence": 9 }),
    );
    let token = r.json()["token"].as_str().unwrap_or_default().to_string();
    assert_eq!(r.json()["sequence"], json!(9));
    srv.captions(&token, json!([{ "text": "a" }]));
    assert_eq!(fake.next_captions(T).map(|r| r.seq), Some(9));
}

#[test]
fn delete_ends_the_instance_and_its_token_for_good() {
    let (fake, srv, key) = setup();
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    srv.captions(&s.token, json!([{ "text": "one" }, { "text": "two" }]));
    let r = srv.bearer("DELETE", "/live", &s.token, None);
    assert_eq!(r.json(), json!({ "removed": true, "sessionId": s.id }));
    // What was accepted before DELETE was still delivered.
    assert_eq!(fake.captions(2, T).len(), 1);
    sse.until("session_closed", T);
    assert!(sse.closed(T));
    for (method, path) in [
        ("GET", "/live"),
        ("PATCH", "/live"),
        ("DELETE", "/live"),
        ("POST", "/sync"),
        ("POST", "/mic"),
        ("GET", "/events"),
    ] {
        let r = srv.bearer(method, path, &s.token, Some(&json!({})));
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(r.error(), "Session ended or expired");
    }
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "late" }])).status,
        401
    );
    let again = srv.register(&key, "s", DOMAIN);
    assert_eq!(again.id, s.id);
    assert_ne!(again.token, s.token);
    assert_eq!(srv.bearer("GET", "/live", &s.token, None).status, 401);
    assert_eq!(srv.bearer("GET", "/live", &again.token, None).status, 200);
    let stats = srv.rows(
        "SELECT session_id, captions_sent, captions_failed, ended_by, domain FROM session_stats",
    );
    assert_eq!(
        stats,
        vec![vec![
            s.id.clone(),
            "2".into(),
            "0".into(),
            "client".into(),
            DOMAIN.into()
        ]]
    );
    let hourly = srv.rows("SELECT sessions_started, sessions_ended, captions_sent, batches_sent FROM domain_hourly_stats");
    assert_eq!(
        hourly,
        vec![vec!["2".to_string(), "1".into(), "2".into(), "1".into()]]
    );
}

#[test]
fn bad_tokens_are_401() {
    let (_fake, srv, key) = setup();
    let s = srv.register(&key, "s", DOMAIN);
    let parts: Vec<&str> = s.token.split('.').collect();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let forged = [
        format!("{none_header}.{}.", parts[1]),
        format!("{}.{}.AAAA", parts[0], parts[1]),
        "garbage".to_string(),
        String::new(),
    ];
    for t in &forged {
        assert_eq!(srv.bearer("GET", "/live", t, None).status, 401, "{t}");
    }
    assert_eq!(srv.get("/live", &[]).status, 401);
    assert_eq!(
        srv.get("/live", &[("Authorization", "Basic abc")]).status,
        401
    );
    // A token signed with another secret.
    let other = lcyt_backend::auth::Jwt::new(&lcyt_backend::secret::JwtSecret::new("other"));
    let claims: lcyt_backend::auth::Claims =
        serde_json::from_slice(&base64url_decode(parts[1])).unwrap_or_else(|e| panic!("{e}"));
    let t = other.issue(&claims).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(srv.bearer("GET", "/live", t.expose(), None).status, 401);
}

#[test]
fn sync_measures_the_offset_through_the_delivery_queue() {
    let (fake, srv, key) = setup();
    fake.set_clock_offset(5_000);
    let s = srv.register(&key, "s", DOMAIN);
    // The registration's own sync already saw the fake's clock.
    let at_start = s.body["syncOffset"].as_i64().unwrap_or(0);
    assert!((4_500..5_500).contains(&at_start), "{at_start}");
    let hb = fake.next(T).unwrap_or_else(|| panic!("no heartbeat"));
    assert!(hb.is_heartbeat() && hb.seq == 0 && hb.content_type.as_deref() == Some("text/plain"));
    fake.set_clock_offset(-3_000);
    let r = srv.bearer("POST", "/sync", &s.token, None);
    let j = r.json();
    assert_eq!(r.status, 200, "{}", r.body);
    let offset = j["syncOffset"].as_i64().unwrap_or(0);
    assert!((-3_500..-2_500).contains(&offset), "{offset}");
    assert!(j["roundTripTime"].as_i64().is_some_and(|t| t >= 0));
    assert_eq!(j["statusCode"], json!(200));
    let stamp = j["serverTimestamp"].as_str().unwrap_or_default();
    assert!(stamp.len() == 23 && !stamp.ends_with('Z'), "{stamp}");
    let hb = fake.next(T).unwrap_or_else(|| panic!("no heartbeat"));
    assert_eq!(
        (hb.seq, hb.body.as_str()),
        (0, ""),
        "a heartbeat does not advance the sequence"
    );
    assert_eq!(
        srv.bearer("GET", "/live", &s.token, None).json()["syncOffset"],
        json!(offset)
    );
    // Captions without a timestamp are stamped with the offset applied.
    srv.captions(&s.token, json!([{ "text": "a" }]));
    let got = fake
        .next_captions(T)
        .unwrap_or_else(|| panic!("no caption"));
    let ts = lcyt_backend::time::parse_iso(&got.timestamps()[0]).unwrap_or(0);
    let skew = lcyt_backend::time::now_ms() - ts;
    assert!((2_000..4_000).contains(&skew), "{skew}");
}

#[test]
fn sync_without_a_timestamp_keeps_the_offset_and_unreachable_is_502() {
    let (fake, srv, key) = setup();
    let s = srv.register(&key, "s", DOMAIN);
    let before = srv.bearer("GET", "/live", &s.token, None).json()["syncOffset"].clone();
    fake.then(Behavior::Status(200, "ok".into()));
    // The registration heartbeat may still be queued at the fake; skip it.
    while fake.next(Duration::from_millis(200)).is_some() {}
    let r = srv.bearer("POST", "/sync", &s.token, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["serverTimestamp"], Value::Null);
    assert_eq!(r.json()["syncOffset"], before);
    fake.then(Behavior::Drop);
    let r = srv.bearer("POST", "/sync", &s.token, None);
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(r.json()["statusCode"], json!(502));
    assert!(!r.error().is_empty());
}

#[test]
fn registration_survives_a_dead_ingestion_endpoint() {
    // Nothing listens on the ingestion URL: sync fails, the session is created anyway.
    let srv = TestServer::start("http://127.0.0.1:9/closedcaption", &[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    assert_eq!(s.body["syncOffset"], json!(0));
    let sse = srv.events(&s.token);
    srv.captions(&s.token, json!([{ "text": "a" }]));
    let e = sse.until("caption_error", T);
    assert_eq!(e.data["statusCode"], json!(502));
    assert_eq!(srv.bearer("POST", "/sync", &s.token, None).status, 502);
}

#[test]
fn idle_sessions_expire_like_delete() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(
        &fake.url(),
        &[("SESSION_TTL", "400"), ("CLEANUP_INTERVAL", "100")],
    );
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    // An open stream alone does not keep the session alive.
    sse.until("session_closed", T);
    assert!(sse.closed(T));
    assert_eq!(srv.bearer("GET", "/live", &s.token, None).status, 401);
    let stats = eventually(T, "session_stats row", || {
        let rows = srv.rows("SELECT ended_by FROM session_stats");
        (!rows.is_empty()).then_some(rows)
    });
    assert_eq!(stats, vec![vec!["ttl".to_string()]]);
}

#[test]
fn activity_keeps_a_session_alive() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(
        &fake.url(),
        &[("SESSION_TTL", "600"), ("CLEANUP_INTERVAL", "50")],
    );
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(srv.bearer("GET", "/live", &s.token, None).status, 200);
    }
}
