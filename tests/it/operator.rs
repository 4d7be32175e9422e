//! CONTRACT §5, §6 and §9 for operators: key lifecycle, free tier, purge, stats,
//! erasure, usage analytics, and a database written by the Node.js original.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{eventually, request, FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);
const DOMAIN: &str = "https://app.example";

fn setup(env: &[(&str, &str)]) -> (FakeYouTube, TestServer) {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), env);
    (fake, srv)
}

#[test]
fn keys_are_read_and_updated_by_percent_decoded_path_and_null_clears() {
    let (_fake, srv) = setup(&[]);
    srv.create_key(
        json!({ "key": "a b/c", "daily_limit": 5, "lifetime_limit": 9, "expires": "2030-01-01" }),
    );
    let k = srv.admin("GET", "/keys/a%20b%2Fc", None);
    assert_eq!((k.status, k.json()["key"].clone()), (200, json!("a b/c")));
    let r = srv.admin(
        "PATCH",
        "/keys/a%20b%2Fc",
        Some(&json!({ "owner": "New", "daily_limit": null, "expires": "2031-02-03T04:05:06Z" })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["owner"], json!("New"));
    assert_eq!(j["daily_limit"], Value::Null);
    assert_eq!(j["lifetime_limit"], json!(9));
    assert_eq!(j["expires_at"], json!("2031-02-03T04:05:06.000Z"));
    assert_eq!(j["daily_used"], json!(0));
    let j = srv
        .admin(
            "PATCH",
            "/keys/a%20b%2Fc",
            Some(&json!({ "expires": null, "lifetime_limit": null })),
        )
        .json();
    assert_eq!(
        (j["expires_at"].clone(), j["lifetime_limit"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(
        srv.admin("PATCH", "/keys/nope", Some(&json!({ "owner": "x" })))
            .status,
        404
    );
    for bad in [
        json!({ "daily_limit": -3 }),
        json!({ "expires": "never" }),
        json!({ "owner": "" }),
        json!({ "owner": 7 }),
    ] {
        assert_eq!(
            srv.admin("PATCH", "/keys/a%20b%2Fc", Some(&bad)).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(srv.admin("DELETE", "/keys/nope", None).status, 404);
}

#[test]
fn revoking_a_key_ends_its_live_sessions_at_once() {
    let (_fake, srv) = setup(&[]);
    let key = srv.create_key(json!({}));
    let other = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    let keep = srv.register(&other, "s", DOMAIN);
    let sse = srv.events(&s.token);
    sse.expect(T);
    let r = srv.admin("DELETE", &format!("/keys/{key}"), None);
    assert_eq!(r.json(), json!({ "key": key, "revoked": true }));
    sse.until("session_closed", T);
    assert!(sse.closed(T));
    assert_eq!(srv.bearer("GET", "/live", &s.token, None).status, 401);
    assert_eq!(srv.bearer("GET", "/live", &keep.token, None).status, 200);
    let row = srv.admin("GET", &format!("/keys/{key}"), None).json();
    assert_eq!(row["active"], json!(0));
    assert!(row["revoked_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let again = srv.send(
        "POST",
        "/live",
        &[],
        &json!({ "apiKey": key, "streamKey": "s", "domain": DOMAIN }),
    );
    assert_eq!(again.status, 401);
    let stats = eventually(T, "session_stats", || {
        let rows = srv.rows("SELECT ended_by FROM session_stats");
        (!rows.is_empty()).then_some(rows)
    });
    assert_eq!(stats, vec![vec!["revoked".to_string()]]);
}

#[test]
fn permanent_delete_removes_the_key_and_its_usage() {
    let (fake, srv) = setup(&[]);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    srv.captions(&s.token, json!([{ "text": "a" }]));
    fake.captions(1, T);
    let r = srv.admin("DELETE", &format!("/keys/{key}?permanent=true"), None);
    assert_eq!(r.json(), json!({ "key": key, "deleted": true }));
    assert_eq!(srv.admin("GET", &format!("/keys/{key}"), None).status, 404);
    assert_eq!(
        srv.rows(&format!(
            "SELECT count(*) FROM caption_usage WHERE api_key = '{key}'"
        )),
        vec![vec!["0".to_string()]]
    );
    assert_eq!(srv.bearer("GET", "/live", &s.token, None).status, 401);
}

#[test]
fn free_tier_keys_one_per_email() {
    let (_fake, off) = setup(&[]);
    let body = json!({ "name": "Volunteer", "email": "Vol@Example.org" });
    assert_eq!(off.send("POST", "/keys?freetier", &[], &body).status, 503);
    let (_fake, srv) = setup(&[("FREE_APIKEY_ACTIVE", "1")]);
    let r = srv.send(
        "POST",
        "/keys?freetier",
        &[("Origin", "https://any.example")],
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://any.example")
    );
    let k = r.json();
    assert_eq!(
        (k["owner"].clone(), k["email"].clone()),
        (json!("Volunteer"), json!("vol@example.org"))
    );
    assert_eq!(
        (k["daily_limit"].clone(), k["lifetime_limit"].clone()),
        (json!(200), json!(1000))
    );
    let expires =
        lcyt_backend::time::parse_iso(k["expires_at"].as_str().unwrap_or("")).unwrap_or(0);
    let days = (expires - lcyt_backend::time::now_ms()) / lcyt_backend::time::MS_PER_DAY;
    assert!((27..=31).contains(&days), "{days}");
    let dup = srv.send(
        "POST",
        "/keys?freetier",
        &[],
        &json!({ "name": "Again", "email": " vol@EXAMPLE.org " }),
    );
    assert_eq!(dup.status, 409);
    for bad in [
        json!({ "name": "", "email": "a@b.fi" }),
        json!({ "name": "x".repeat(201), "email": "a@b.fi" }),
        json!({ "name": "n", "email": "nope" }),
        json!({ "name": "n", "email": "a @b.fi" }),
        json!({ "name": "n" }),
    ] {
        assert_eq!(
            srv.send("POST", "/keys?freetier", &[], &bad).status,
            400,
            "{bad}"
        );
    }
    let pre = request(
        srv.addr,
        "OPTIONS",
        "/keys?freetier",
        &[
            ("Origin", "https://any.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        None,
    );
    assert_eq!(
        (pre.status, pre.header("access-control-allow-origin")),
        (204, Some("https://any.example"))
    );
}

#[test]
fn revoked_keys_are_purged_with_all_their_rows() {
    let (fake, srv) = setup(&[
        ("REVOKED_KEY_TTL_DAYS", "1"),
        ("REVOKED_KEY_CLEANUP_INTERVAL", "100"),
    ]);
    let old = srv.create_key(json!({}));
    let recent = srv.create_key(json!({}));
    let s = srv.register(&old, "s", DOMAIN);
    srv.captions(&s.token, json!([{ "text": "a" }]));
    fake.captions(1, T);
    srv.bearer("DELETE", "/live", &s.token, None);
    srv.admin("DELETE", &format!("/keys/{old}"), None);
    srv.admin("DELETE", &format!("/keys/{recent}"), None);
    // Backdate one revocation beyond the TTL (and in the Node.js original's format).
    srv.db()
        .execute(
            "UPDATE api_keys SET revoked_at = '2020-01-01 00:00:00' WHERE key = ?1",
            [&old],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eventually(T, "the old key purged", || {
        (srv.admin("GET", &format!("/keys/{old}"), None).status == 404).then_some(())
    });
    for table in [
        "caption_usage",
        "session_stats",
        "caption_errors",
        "auth_events",
    ] {
        let n = srv.rows(&format!(
            "SELECT count(*) FROM {table} WHERE api_key = '{old}'"
        ));
        assert_eq!(n, vec![vec!["0".to_string()]], "{table}");
    }
    assert_eq!(
        srv.admin("GET", &format!("/keys/{recent}"), None).status,
        200
    );
}

#[test]
fn stats_show_the_keys_own_history_newest_first() {
    let (fake, srv) = setup(&[]);
    let key = srv.create_key(json!({ "key": "stats-key-123456", "daily_limit": 50 }));
    let first = srv.register(&key, "one", DOMAIN);
    srv.captions(&first.token, json!([{ "text": "a" }, { "text": "b" }]));
    fake.captions(2, T);
    srv.bearer("DELETE", "/live", &first.token, None);
    let second = srv.register(&key, "two", DOMAIN);
    fake.then(crate::support::Behavior::Status(500, String::new()));
    srv.captions(&second.token, json!([{ "text": "c" }]));
    eventually(T, "the error row", || {
        (srv.rows("SELECT 1 FROM caption_errors").len() == 1).then_some(())
    });
    let r = srv.bearer("GET", "/stats", &second.token, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let shown = j["apiKey"].as_str().unwrap_or_default();
    assert!(
        shown.ends_with("3456") && !shown.contains("stats-key"),
        "{shown}"
    );
    assert_eq!(j["owner"], json!("Test Owner"));
    assert_eq!(
        j["usage"],
        json!({ "lifetimeUsed": 3, "dailyUsed": 3, "dailyLimit": 50, "lifetimeLimit": null })
    );
    let sessions = j["sessions"].as_array().cloned().unwrap_or_default();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["sessionId"], json!(first.id));
    assert_eq!(
        (
            sessions[0]["captionsSent"].clone(),
            sessions[0]["endedBy"].clone()
        ),
        (json!(2), json!("client"))
    );
    assert!(
        sessions[0]["durationMs"].is_i64()
            && sessions[0]["startedAt"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
    );
    let errors = j["captionErrors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (
            errors[0]["statusCode"].clone(),
            errors[0]["batchSize"].clone()
        ),
        (json!(500), json!(1))
    );
    let events: Vec<Value> = j["authEvents"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        events
            .iter()
            .map(|e| e["event"].clone())
            .collect::<Vec<_>>(),
        vec![json!("session_start"), json!("session_start")]
    );
    // At most 100 of each, newest first.
    let conn = srv.db();
    for i in 0..150 {
        conn.execute(
            "INSERT INTO auth_events (api_key, event_type, timestamp, domain) VALUES (?1, ?2, '2026-01-01T00:00:00.000Z', 'd')",
            rusqlite::params![key, format!("e{i}")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let j = srv.bearer("GET", "/stats", &second.token, None).json();
    let events = j["authEvents"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 100);
    assert_eq!(events[0]["event"], json!("e149"));
}

#[test]
fn erasure_leaves_no_row_of_the_key_but_an_anonymised_one() {
    let (fake, srv) = setup(&[("FREE_APIKEY_ACTIVE", "1")]);
    let k = srv
        .send(
            "POST",
            "/keys?freetier",
            &[],
            &json!({ "name": "Person", "email": "p@example.org" }),
        )
        .json();
    let key = k["key"].as_str().unwrap_or_default().to_string();
    let done = srv.register(&key, "one", DOMAIN);
    srv.captions(&done.token, json!([{ "text": "a" }]));
    fake.captions(1, T);
    srv.bearer("DELETE", "/live", &done.token, None);
    let live = srv.register(&key, "two", DOMAIN);
    let sse = srv.events(&live.token);
    fake.then(crate::support::Behavior::Status(500, String::new()));
    srv.captions(&live.token, json!([{ "text": "b" }]));
    sse.until("caption_error", T);
    let r = srv.bearer("DELETE", "/stats", &live.token, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["ok"], json!(true));
    assert!(r.json()["message"].is_string());
    sse.until("session_closed", T);
    assert_eq!(srv.bearer("GET", "/stats", &live.token, None).status, 401);
    for table in [
        "session_stats",
        "caption_errors",
        "auth_events",
        "caption_usage",
    ] {
        let n = srv.rows(&format!(
            "SELECT count(*) FROM {table} WHERE api_key = '{key}'"
        ));
        assert_eq!(n, vec![vec!["0".to_string()]], "{table}");
    }
    let row = srv.rows(&format!("SELECT owner, active, revoked_at IS NOT NULL, email, expires_at IS NOT NULL FROM api_keys WHERE key = '{key}'"));
    assert_eq!(
        row,
        vec![vec![
            "".to_string(),
            "0".into(),
            "1".into(),
            "p@example.org".into(),
            "1".into()
        ]]
    );
    // The same email still cannot take another free key.
    let again = srv.send(
        "POST",
        "/keys?freetier",
        &[],
        &json!({ "name": "Person", "email": "p@example.org" }),
    );
    assert_eq!(again.status, 409);
}

#[test]
fn usage_is_admin_only_unless_public_and_sums_hours_into_days() {
    let (fake, srv) = setup(&[]);
    assert_eq!(srv.get("/usage", &[]).status, 401);
    let key = srv.create_key(json!({}));
    let s = srv.register(&key, "s", DOMAIN);
    srv.captions(&s.token, json!([{ "text": "a" }, { "text": "b" }]));
    fake.captions(2, T);
    srv.bearer("DELETE", "/live", &s.token, None);
    // A second hour of the same day, as if the session had run on.
    srv.db()
        .execute(
            "INSERT INTO domain_hourly_stats (date, hour, domain, captions_sent, peak_sessions) \
             SELECT date, (hour + 1) % 24, domain, 5, 7 FROM domain_hourly_stats",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let day = srv.admin("GET", "/usage", None);
    assert_eq!(day.status, 200, "{}", day.body);
    let j = day.json();
    assert_eq!(
        (j["granularity"].clone(), j["public"].clone()),
        (json!("day"), json!(false))
    );
    let today = lcyt_backend::time::date(lcyt_backend::time::now_ms());
    assert_eq!(j["to"], json!(today));
    let rows = j["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["captions_sent"], json!(7));
    assert_eq!(rows[0]["peak_sessions"], json!(7));
    assert_eq!(
        (
            rows[0]["sessions_started"].clone(),
            rows[0]["sessions_ended"].clone()
        ),
        (json!(1), json!(1))
    );
    assert!(rows[0].get("hour").is_none());
    assert_eq!(day.header("cache-control"), Some("no-store"));
    let hours = srv
        .admin(
            "GET",
            &format!(
                "/usage?granularity=hour&domain={}",
                "https%3A%2F%2Fapp.example"
            ),
            None,
        )
        .json();
    let rows = hours["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["hour"].is_i64()));
    let past = srv.admin("GET", "/usage?from=2020-01-01&to=2020-01-31", None);
    assert_eq!(
        (past.header("cache-control"), past.json()["data"].clone()),
        (Some("public, max-age=1800"), json!([]))
    );
    for bad in [
        "/usage?from=2020-13-01",
        "/usage?from=2020-02-02&to=2020-02-01",
        "/usage?granularity=minute",
    ] {
        assert_eq!(srv.admin("GET", bad, None).status, 400, "{bad}");
    }
    let r = request(
        srv.addr,
        "GET",
        "/usage",
        &[
            ("X-Admin-Key", crate::support::server::ADMIN_KEY),
            ("Origin", "https://lcyt.fi"),
        ],
        None,
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "admin /usage has no CORS"
    );
}

#[test]
fn public_usage_gives_cors_only_to_allowed_hosts() {
    let (_fake, srv) = setup(&[
        ("USAGE_PUBLIC", "1"),
        ("ALLOWED_DOMAINS", "lcyt.fi,stats.example"),
    ]);
    let r = srv.get("/usage", &[("Origin", "https://STATS.example:8443")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["public"], json!(true));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://STATS.example:8443")
    );
    let r = srv.get("/usage", &[("Origin", "https://evil.example")]);
    assert_eq!(
        (r.status, r.header("access-control-allow-origin")),
        (200, None)
    );
}

/// The Node.js original's schema: no `revoked_at`, SQLite-format `created_at`.
const NODE_SCHEMA: &str = "
CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, owner TEXT NOT NULL,
  email TEXT, created_at TEXT NOT NULL DEFAULT (datetime('now')), expires_at TEXT, active INTEGER NOT NULL DEFAULT 1,
  daily_limit INTEGER, lifetime_limit INTEGER, lifetime_used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE caption_usage (api_key TEXT NOT NULL, date TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (api_key, date));
CREATE TABLE session_stats (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, api_key TEXT NOT NULL, domain TEXT,
  started_at TEXT NOT NULL, ended_at TEXT NOT NULL, duration_ms INTEGER NOT NULL DEFAULT 0, captions_sent INTEGER NOT NULL DEFAULT 0,
  captions_failed INTEGER NOT NULL DEFAULT 0, final_sequence INTEGER NOT NULL DEFAULT 0, ended_by TEXT);
CREATE TABLE caption_errors (id INTEGER PRIMARY KEY AUTOINCREMENT, api_key TEXT NOT NULL, session_id TEXT,
  timestamp TEXT NOT NULL DEFAULT (datetime('now')), error_code INTEGER, error_msg TEXT, batch_size INTEGER NOT NULL DEFAULT 1);
CREATE TABLE auth_events (id INTEGER PRIMARY KEY AUTOINCREMENT, api_key TEXT, event_type TEXT NOT NULL,
  timestamp TEXT NOT NULL DEFAULT (datetime('now')), domain TEXT);
CREATE TABLE domain_hourly_stats (date TEXT NOT NULL, hour INTEGER NOT NULL, domain TEXT NOT NULL,
  sessions_started INTEGER NOT NULL DEFAULT 0, sessions_ended INTEGER NOT NULL DEFAULT 0, captions_sent INTEGER NOT NULL DEFAULT 0,
  captions_failed INTEGER NOT NULL DEFAULT 0, batches_sent INTEGER NOT NULL DEFAULT 0, total_duration_ms INTEGER NOT NULL DEFAULT 0,
  peak_sessions INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (date, hour, domain));
INSERT INTO api_keys (key, owner, created_at, daily_limit) VALUES ('node-key', 'Old Owner', '2024-05-06 07:08:09', 100);
INSERT INTO caption_usage (api_key, date, count) VALUES ('node-key', '2024-05-06', 12);
INSERT INTO session_stats (session_id, api_key, domain, started_at, ended_at, duration_ms, captions_sent, ended_by)
  VALUES ('0123456789abcdef', 'node-key', 'https://old.example', '2024-05-06 07:10:00', '2024-05-06 08:10:00', 3600000, 12, 'client');
";

#[test]
fn a_database_written_by_the_node_original_opens_and_works() {
    let fake = FakeYouTube::start();
    let dir = crate::support::server::temp_dir();
    let db_path = dir.join("node.db");
    rusqlite::Connection::open(&db_path)
        .and_then(|c| c.execute_batch(NODE_SCHEMA))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
    let srv = TestServer::start_with_db(&fake.url(), &[], dir, db_path);
    let k = srv.admin("GET", "/keys/node-key", None);
    assert_eq!(k.status, 200, "{}", k.body);
    let j = k.json();
    assert_eq!(j["created_at"], json!("2024-05-06T07:08:09.000Z"));
    assert_eq!(j["revoked_at"], Value::Null);
    let s = srv.register("node-key", "s", DOMAIN);
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "still works" }]))
            .status,
        202
    );
    fake.captions(1, T);
    let stats = srv.bearer("GET", "/stats", &s.token, None).json();
    assert_eq!(
        stats["sessions"][0]["startedAt"],
        json!("2024-05-06T07:10:00.000Z")
    );
    assert_eq!(srv.admin("DELETE", "/keys/node-key", None).status, 200);
    let row = srv.admin("GET", "/keys/node-key", None).json();
    assert!(row["revoked_at"].is_string());
}
