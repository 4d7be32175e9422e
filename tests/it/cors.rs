//! CONTRACT §8: which responses carry CORS headers.

use std::time::Duration;

use serde_json::json;

use crate::support::{request, FakeYouTube, SseReader, TestServer};

const DOMAIN: &str = "https://app.example";
const EVIL: &str = "https://evil.example";

fn acao(r: &crate::support::Resp) -> Option<&str> {
    r.header("access-control-allow-origin")
}

#[test]
fn open_routes_echo_any_origin() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    for path in ["/health", "/contact"] {
        let r = srv.get(path, &[("Origin", EVIL)]);
        assert_eq!(acao(&r), Some(EVIL), "{path}");
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Content-Type, Authorization")
        );
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    let body = json!({ "apiKey": key, "streamKey": "s", "domain": DOMAIN });
    let r = srv.send("POST", "/live", &[("Origin", EVIL)], &body);
    assert_eq!((r.status, acao(&r)), (200, Some(EVIL)));
    let pre = request(
        srv.addr,
        "OPTIONS",
        "/live",
        &[("Origin", EVIL), ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert_eq!((pre.status, acao(&pre)), (204, Some(EVIL)));
    assert!(pre
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));
    assert_eq!(
        srv.get("/health", &[])
            .header("access-control-allow-origin"),
        None
    );
}

#[test]
fn authenticated_routes_allow_only_the_session_domain() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", &format!("{DOMAIN}/"));
    let auth = format!("Bearer {}", s.token);
    let get = |origin: &str| {
        request(
            srv.addr,
            "GET",
            "/live",
            &[("Authorization", &auth), ("Origin", origin)],
            None,
        )
    };
    assert_eq!(acao(&get(DOMAIN)), Some(DOMAIN));
    let r = get(EVIL);
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().starts_with("access-control")),
        "{:?}",
        r.headers
    );
    // Errors after authentication still carry them, so the app can read the message.
    let bad = request(
        srv.addr,
        "POST",
        "/captions",
        &[("Authorization", &auth), ("Origin", DOMAIN)],
        Some("{}"),
    );
    assert_eq!((bad.status, acao(&bad)), (400, Some(DOMAIN)));
    let sse = SseReader::open(
        srv.addr,
        &format!("/events?token={}", s.token),
        &[("Origin", DOMAIN)],
    );
    assert_eq!(sse.head.header("access-control-allow-origin"), Some(DOMAIN));
    let sse = SseReader::open(
        srv.addr,
        &format!("/events?token={}", s.token),
        &[("Origin", EVIL)],
    );
    assert_eq!(sse.head.header("access-control-allow-origin"), None);
    // Preflights: only for a domain with a live session.
    let pre = |origin: &str| {
        request(
            srv.addr,
            "OPTIONS",
            "/captions",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            None,
        )
    };
    assert_eq!(
        (pre(DOMAIN).status, acao(&pre(DOMAIN))),
        (204, Some(DOMAIN))
    );
    assert_eq!((pre(EVIL).status, acao(&pre(EVIL))), (204, None));
    srv.bearer("DELETE", "/live", &s.token, None);
    crate::support::eventually(Duration::from_secs(5), "no live session", || {
        acao(&pre(DOMAIN)).is_none().then_some(())
    });
}

#[test]
fn admin_routes_never_have_cors() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let r = request(
        srv.addr,
        "GET",
        "/keys",
        &[
            ("X-Admin-Key", crate::support::server::ADMIN_KEY),
            ("Origin", DOMAIN),
        ],
        None,
    );
    assert_eq!((r.status, acao(&r)), (200, None));
    let pre = request(
        srv.addr,
        "OPTIONS",
        "/keys",
        &[
            ("Origin", DOMAIN),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    );
    assert_eq!((pre.status, acao(&pre)), (204, None));
    assert_eq!(pre.header("vary"), Some("Origin"));
}
