//! Bad clients and bad networks: silent connections, floods, and threads that must not
//! outlive their sessions.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);

#[test]
fn a_client_that_sends_nothing_is_disconnected() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("SOCKET_TIMEOUT", "300")]);
    let mut s = TcpStream::connect(srv.addr).unwrap_or_else(|e| panic!("{e}"));
    s.set_read_timeout(Some(T)).ok();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes the socket (after a 408); a read timeout here would be an error.
    let read = s.read_to_end(&mut buf);
    assert!(read.is_ok(), "connection was not closed: {read:?}");
    assert!(started.elapsed() < T);
    assert_eq!(srv.get("/health", &[]).status, 200);
}

#[test]
fn a_flood_of_idle_connections_does_not_take_the_server_down() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("SOCKET_TIMEOUT", "2000")]);
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(srv.addr).ok())
        .collect();
    assert!(idle.len() >= 250, "could only open {}", idle.len());
    let r = srv.get("/health", &[]);
    assert_eq!(r.status, 200);
    drop(idle);
    let key = srv.create_key(json!({}));
    srv.register(&key, "s", "https://a.example");
    assert_eq!(srv.get("/health", &[]).json()["activeSessions"], json!(1));
}

#[test]
fn ending_sessions_returns_the_thread_count_to_its_baseline() {
    let fake = FakeYouTube::start();
    // The default SOCKET_TIMEOUT: the accept keeper then wakes an idle pool thread only
    // every 10 s, so tiny_http's idle connection threads end after their 5 s.
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    // One warm-up round so the connection-thread pool has grown to its resting size.
    let warm = srv.register(&key, "warm", "https://a.example");
    srv.bearer("DELETE", "/live", &warm.token, None);
    std::thread::sleep(Duration::from_secs(1));
    let baseline = srv.threads();
    let baseline_names = srv.thread_names();
    let mut sessions = Vec::new();
    for i in 0..20 {
        let s = srv.register(&key, &format!("stream-{i}"), "https://a.example");
        let l1 = srv.events(&s.token);
        let l2 = srv.events(&s.token);
        srv.captions(&s.token, json!([{ "text": "x" }]));
        sessions.push((s, l1, l2));
    }
    assert!(
        srv.threads() >= baseline + 20 * 3,
        "each session has a delivery thread and its listeners"
    );
    for (s, l1, l2) in &sessions {
        assert_eq!(srv.bearer("DELETE", "/live", &s.token, None).status, 200);
        assert!(l1.closed(T) && l2.closed(T));
    }
    drop(sessions);
    // tiny_http's connection threads idle out after a few seconds; ours end at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.threads() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = srv.threads();
    assert!(
        after <= baseline,
        "{after} > {baseline}: {:?} vs {baseline_names:?}",
        srv.thread_names()
    );
}

/// Linux times out `accept()` with the listener's read timeout, which ended tiny_http's
/// accept thread: after one quiet SOCKET_TIMEOUT, no new connection was ever accepted.
#[test]
fn regression_a_quiet_spell_longer_than_the_socket_timeout_keeps_accepting() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[("SOCKET_TIMEOUT", "200")]);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(srv.get("/health", &[]).status, 200);
}

/// tiny_http's pool can lose a wake-up when connections arrive in a burst, and SSE
/// streams pin its threads: 500 listeners connecting at once were served one every
/// 10 s. Every listener of a burst must get `connected` promptly.
#[test]
fn regression_a_burst_of_sse_connections_is_served_at_once() {
    let fake = FakeYouTube::start();
    let srv = std::sync::Arc::new(TestServer::start(&fake.url(), &[]));
    let key = srv.create_key(json!({}));
    let tokens: Vec<String> = (0..4)
        .map(|i| {
            srv.register(&key, &format!("s{i}"), "https://a.example")
                .token
        })
        .collect();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(160));
    let started = Instant::now();
    let threads: Vec<_> = (0..160)
        .map(|i| {
            let (srv, token, barrier) = (srv.clone(), tokens[i % 4].clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let t0 = Instant::now();
                let sse = srv.events(&token);
                let first = sse.next(Duration::from_secs(8)).map(|e| e.event);
                (first, t0.elapsed(), sse)
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| panic!("listener thread")))
        .collect();
    let connected = results
        .iter()
        .filter(|(e, _, _)| e.as_deref() == Some("connected"))
        .count();
    assert_eq!(
        connected,
        160,
        "only {connected} of 160 listeners connected in {:?}",
        started.elapsed()
    );
    let slowest = results.iter().map(|(_, t, _)| *t).max().unwrap_or_default();
    // Not a speed figure: a stranded connection waits for a 10 s accept-keeper poke.
    assert!(
        slowest < Duration::from_secs(5),
        "a listener waited {slowest:?} for its stream"
    );
}

#[test]
fn a_full_request_queue_is_503_with_retry_after_and_nothing_is_lost() {
    let fake = FakeYouTube::start();
    let srv = std::sync::Arc::new(TestServer::start(
        &fake.url(),
        &[("WORKERS", "1"), ("REQUEST_QUEUE", "1")],
    ));
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", "https://a.example");
    // An admin script holding a write transaction: the one worker waits on SQLite's
    // busy timeout inside its first caption request (it used to get SQLITE_BUSY at once
    // and answer 500: a deferred transaction cannot wait to upgrade to a write).
    let db = srv.db();
    db.execute_batch("BEGIN IMMEDIATE;")
        .unwrap_or_else(|e| panic!("{e}"));
    let post = |text: &'static str| {
        let (srv, token) = (srv.clone(), s.token.clone());
        std::thread::spawn(move || srv.captions(&token, json!([{ "text": text }])).status)
    };
    let first = post("first");
    std::thread::sleep(Duration::from_millis(300));
    let second = post("second");
    std::thread::sleep(Duration::from_millis(300));
    let r = srv.get("/health", &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.error(), "Server busy");
    db.execute_batch("COMMIT;")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.join().ok(), Some(202));
    assert_eq!(second.join().ok(), Some(202));
    let texts: Vec<String> = fake.captions(2, T).iter().flat_map(|p| p.texts()).collect();
    assert_eq!(texts, vec!["first", "second"]);
}
