//! CONTRACT §4 delivery: body format, ordering, results, failures, limits, the bounded
//! queue, and many clients on one session.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::{eventually, Behavior, FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);
const DOMAIN: &str = "https://app.example";

fn setup(env: &[(&str, &str)], key: serde_json::Value) -> (FakeYouTube, TestServer, String) {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), env);
    let key = srv.create_key(key);
    (fake, srv, key)
}

#[test]
fn a_caption_reaches_the_endpoint_and_comes_back_as_a_result() {
    let (fake, srv, key) = setup(&[], json!({}));
    let s = srv.register(&key, "cid-1", DOMAIN);
    let sse = srv.events(&s.token);
    assert_eq!(sse.expect(T).event, "connected");
    let r = srv.captions(
        &s.token,
        json!([{ "text": "Hello\nworld", "timestamp": "2026-12-03T10:00:00.250+02:00" }]),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["ok"], json!(true));
    let request_id = r.json()["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let got = fake
        .next_captions(T)
        .unwrap_or_else(|| panic!("nothing delivered"));
    assert_eq!(got.path, "/closedcaption");
    assert_eq!((got.cid.as_str(), got.seq), ("cid-1", 0));
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
    assert_eq!(got.body, "2026-12-03T08:00:00.250\nHello<br>world\n");
    let e = sse.until("caption_result", T);
    assert_eq!(e.data["requestId"], json!(request_id));
    assert_eq!(e.data["sequence"], json!(0));
    assert_eq!(e.data["statusCode"], json!(200));
    assert!(e.data["serverTimestamp"].is_string());
    assert!(e.data.get("count").is_none());
    // The stream is flushed per event: the result is not held back in a buffer.
    assert!(
        e.at.duration_since(got.at) < Duration::from_secs(1),
        "{:?}",
        e.at.duration_since(got.at)
    );
}

#[test]
fn timestamp_forms_and_a_multi_caption_request() {
    let (fake, srv, key) = setup(&[], json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let started =
        lcyt_backend::time::parse_iso(s.body["startedAt"].as_str().unwrap_or("")).unwrap_or(0);
    let offset = s.body["syncOffset"].as_i64().unwrap_or(0);
    let sse = srv.events(&s.token);
    let r = srv.captions(
        &s.token,
        json!([
            { "text": "epoch", "timestamp": 1_796_299_200_000_i64 },
            { "text": "zoneless", "timestamp": "2026-12-03T12:00:01" },
            { "text": "relative", "time": 2500 },
            { "text": "a\r\nb\rc" },
        ]),
    );
    assert_eq!(r.status, 202);
    let got = fake
        .next_captions(T)
        .unwrap_or_else(|| panic!("nothing delivered"));
    assert_eq!(
        got.texts(),
        vec!["epoch", "zoneless", "relative", "a<br>b<br>c"]
    );
    let ts = got.timestamps();
    assert_eq!(ts[0], "2026-12-03T12:00:00.000");
    assert_eq!(ts[1], "2026-12-03T12:00:01.000");
    assert_eq!(ts[2], lcyt_backend::time::youtube(started + 2500 + offset));
    assert!(got.body.ends_with('\n') && got.body.lines().count() == 8);
    let e = sse.until("caption_result", T);
    assert_eq!(e.data["count"], json!(4));
    let hourly = eventually(T, "hourly stats", || {
        let rows = srv.rows("SELECT captions_sent, batches_sent FROM domain_hourly_stats");
        (rows.first().is_some_and(|r| r[0] == "4")).then_some(rows)
    });
    assert_eq!(hourly, vec![vec!["4".to_string(), "1".into()]]);
}

#[test]
fn invalid_captions_are_400_and_nothing_is_counted() {
    let (fake, srv, key) = setup(&[], json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let cases = [
        (json!({}), "captions"),
        (json!({ "captions": [] }), "captions"),
        (
            json!({ "captions": [{ "text": "ok" }, { "text": "  " }] }),
            "captions[1].text",
        ),
        (
            json!({ "captions": [{ "text": "x", "timestamp": "tomorrow" }] }),
            "captions[0].timestamp",
        ),
        (
            json!({ "captions": [{ "text": "x", "timestamp": 5, "time": 5 }] }),
            "captions[0].time",
        ),
        (
            json!({ "captions": (0..201).map(|_| json!({ "text": "x" })).collect::<Vec<_>>() }),
            "200",
        ),
    ];
    for (body, field) in cases {
        let r = srv.bearer("POST", "/captions", &s.token, Some(&body));
        assert_eq!(r.status, 400, "{body}");
        assert!(r.error().contains(field), "{}: {}", field, r.body);
    }
    let key_row = srv.admin("GET", &format!("/keys/{key}"), None).json();
    assert_eq!(
        (
            key_row["lifetime_used"].clone(),
            key_row["daily_used"].clone()
        ),
        (json!(0), json!(0))
    );
    assert!(fake.quiet(Duration::from_millis(300)));
}

#[test]
fn a_failed_delivery_reports_an_error_and_keeps_the_sequence() {
    let (fake, srv, key) = setup(&[], json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    fake.next(T); // the registration heartbeat
    fake.then(Behavior::Status(403, "forbidden".into()));
    let r = srv.captions(&s.token, json!([{ "text": "a" }, { "text": "b" }]));
    let rid = r.json()["requestId"].clone();
    let e = sse.until("caption_error", T);
    assert_eq!(
        e.data,
        json!({ "requestId": rid, "error": "YouTube returned status 403", "statusCode": 403, "sequence": 0 })
    );
    fake.then(Behavior::Drop);
    srv.captions(&s.token, json!([{ "text": "c" }]));
    let e = sse.until("caption_error", T);
    assert_eq!(
        (e.data["statusCode"].clone(), e.data["sequence"].clone()),
        (json!(502), json!(0))
    );
    srv.captions(&s.token, json!([{ "text": "d" }]));
    let e = sse.until("caption_result", T);
    assert_eq!(
        e.data["sequence"],
        json!(0),
        "failures never advance the sequence"
    );
    let seqs: Vec<u64> = fake.captions(4, T).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 0, 0]);
    let errors = eventually(T, "caption_errors rows", || {
        let rows =
            srv.rows("SELECT error_code, batch_size, session_id FROM caption_errors ORDER BY id");
        (rows.len() == 2).then_some(rows)
    });
    assert_eq!(errors[0], vec!["403".to_string(), "2".into(), s.id.clone()]);
    assert_eq!(errors[1][..2], ["502".to_string(), "1".into()]);
    srv.bearer("DELETE", "/live", &s.token, None);
    let stats =
        srv.rows("SELECT captions_sent, captions_failed, final_sequence FROM session_stats");
    assert_eq!(stats, vec![vec!["1".to_string(), "3".into(), "1".into()]]);
}

#[test]
fn a_timeout_is_a_502_error() {
    let (fake, srv, key) = setup(&[("INGEST_TIMEOUT", "300")], json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    fake.for_cid("s", Behavior::Stall);
    srv.captions(&s.token, json!([{ "text": "a" }]));
    let e = sse.until("caption_error", T);
    assert_eq!(e.data["statusCode"], json!(502));
    assert!(
        e.data["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{}",
        e.data
    );
}

#[test]
fn usage_limits_refuse_the_whole_request() {
    let (fake, srv, key) = setup(&[], json!({ "daily_limit": 5 }));
    let s = srv.register(&key, "s", DOMAIN);
    let three = json!([{ "text": "1" }, { "text": "2" }, { "text": "3" }]);
    assert_eq!(srv.captions(&s.token, three.clone()).status, 202);
    let r = srv.captions(&s.token, three);
    assert_eq!(
        (r.status, r.error()),
        (429, "daily_limit_exceeded".to_string())
    );
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "4" }, { "text": "5" }]))
            .status,
        202
    );
    assert_eq!(srv.captions(&s.token, json!([{ "text": "6" }])).status, 429);
    fake.captions(5, T);
    assert!(
        fake.quiet(Duration::from_millis(300)),
        "a refused request was delivered"
    );
    let row = srv.admin("GET", &format!("/keys/{key}"), None).json();
    assert_eq!(
        (row["daily_used"].clone(), row["lifetime_used"].clone()),
        (json!(5), json!(5))
    );
    let events = srv.rows("SELECT event_type FROM auth_events WHERE event_type LIKE '%exceeded'");
    assert_eq!(events.len(), 2);
    let lifetime = srv.create_key(json!({ "lifetime_limit": 1 }));
    let s2 = srv.register(&lifetime, "s2", DOMAIN);
    assert_eq!(
        srv.captions(&s2.token, json!([{ "text": "a" }, { "text": "b" }]))
            .error(),
        "lifetime_limit_exceeded"
    );
}

#[test]
fn concurrent_requests_never_exceed_a_limit_together() {
    let (_fake, srv, key) = setup(
        &[("WORKERS", "8"), ("SESSION_QUEUE_MAX", "256")],
        json!({ "lifetime_limit": 50 }),
    );
    let srv = Arc::new(srv);
    let s = srv.register(&key, "s", DOMAIN);
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let (srv, token) = (srv.clone(), s.token.clone());
            std::thread::spawn(move || {
                let five: Vec<_> = (0..5).map(|i| json!({ "text": format!("t{i}") })).collect();
                srv.captions(&token, json!(five)).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap_or(0)).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
    let row = srv.admin("GET", &format!("/keys/{key}"), None).json();
    assert_eq!(row["lifetime_used"], json!(50));
}

#[test]
fn many_clients_on_one_session_keep_order_and_a_gapless_sequence() {
    let (fake, srv, key) = setup(
        &[
            ("WORKERS", "8"),
            ("SESSION_QUEUE_MAX", "512"),
            ("MAX_BATCH_CAPTIONS", "7"),
        ],
        json!({}),
    );
    let srv = Arc::new(srv);
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    let (clients, per_client) = (8, 25);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (srv, token) = (srv.clone(), s.token.clone());
            std::thread::spawn(move || {
                (0..per_client)
                    .map(|i| {
                        srv.captions(&token, json!([{ "text": format!("c{c}-{i}") }]))
                            .status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap_or_default().iter().all(|s| *s == 202));
    }
    let posts = fake.captions(clients * per_client, Duration::from_secs(20));
    let seqs: Vec<u64> = posts.iter().map(|p| p.seq).collect();
    assert_eq!(
        seqs,
        (0..posts.len() as u64).collect::<Vec<_>>(),
        "sequence skipped or repeated"
    );
    let texts: Vec<String> = posts.iter().flat_map(|p| p.texts()).collect();
    assert_eq!(
        texts.iter().collect::<HashSet<_>>().len(),
        clients * per_client,
        "lost or duplicated"
    );
    for c in 0..clients {
        let mine: Vec<&String> = texts
            .iter()
            .filter(|t| t.starts_with(&format!("c{c}-")))
            .collect();
        let want: Vec<String> = (0..per_client).map(|i| format!("c{c}-{i}")).collect();
        assert_eq!(
            mine,
            want.iter().collect::<Vec<_>>(),
            "client {c} reordered"
        );
    }
    assert!(
        posts.iter().all(|p| p.texts().len() <= 7),
        "a POST exceeded MAX_BATCH_CAPTIONS"
    );
    let mut results = 0;
    while results < clients * per_client {
        let e = sse.until("caption_result", T);
        assert!(e.data["sequence"].as_u64().is_some());
        results += 1;
    }
}

#[test]
fn a_full_queue_is_503_with_retry_after_and_counts_nothing() {
    let (fake, srv, key) = setup(
        &[("SESSION_QUEUE_MAX", "2"), ("INGEST_TIMEOUT", "3000")],
        json!({}),
    );
    let s = srv.register(&key, "s", DOMAIN);
    fake.next(T); // the registration heartbeat
    fake.for_cid("s", Behavior::Stall);
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "in flight" }]))
            .status,
        202
    );
    fake.next_captions(T)
        .unwrap_or_else(|| panic!("not in flight"));
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "q1" }])).status,
        202
    );
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "q2" }])).status,
        202
    );
    let r = srv.captions(&s.token, json!([{ "text": "overflow" }]));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    let row = srv.admin("GET", &format!("/keys/{key}"), None).json();
    assert_eq!(row["lifetime_used"], json!(3));
    assert_eq!(srv.bearer("POST", "/sync", &s.token, None).status, 503);
}

#[test]
fn a_stalled_session_never_blocks_another_session_or_the_server() {
    let (fake, srv, key) = setup(&[("INGEST_TIMEOUT", "10000")], json!({}));
    let stalled = srv.register(&key, "stalled", DOMAIN);
    fake.for_cid("stalled", Behavior::Stall);
    for i in 0..3 {
        assert_eq!(
            srv.captions(&stalled.token, json!([{ "text": format!("s{i}") }]))
                .status,
            202
        );
    }
    // Both sync requests wait on the stalled endpoint without holding a worker.
    let (a, b) = (stalled.token.clone(), srv.addr);
    let _waiters: Vec<_> = (0..6)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || {
                crate::support::request(
                    b,
                    "POST",
                    "/sync",
                    &[("Authorization", &format!("Bearer {a}"))],
                    None,
                )
            })
        })
        .collect();
    let healthy = srv.register(&key, "healthy", DOMAIN);
    let sse = srv.events(&healthy.token);
    for i in 0..5 {
        assert_eq!(
            srv.captions(&healthy.token, json!([{ "text": format!("h{i}") }]))
                .status,
            202
        );
        sse.until("caption_result", T);
        assert_eq!(srv.get("/health", &[]).status, 200);
    }
    let third = srv.register(&key, "third", DOMAIN);
    assert_eq!(srv.bearer("GET", "/live", &third.token, None).status, 200);
}

#[test]
fn a_request_of_200_long_captions_is_delivered_whole_in_one_post() {
    let (fake, srv, key) = setup(&[], json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let sse = srv.events(&s.token);
    let long = "x".repeat(290);
    let captions: Vec<_> = (0..200)
        .map(|i| json!({ "text": format!("{i:03}{long}") }))
        .collect();
    let r = srv.captions(&s.token, json!(captions));
    assert_eq!(r.status, 202, "{}", r.body);
    let got = fake
        .next_captions(T)
        .unwrap_or_else(|| panic!("nothing delivered"));
    assert_eq!(got.texts().len(), 200);
    assert!(got.body.len() > 60_000, "{}", got.body.len());
    assert_eq!(sse.until("caption_result", T).data["count"], json!(200));
}
