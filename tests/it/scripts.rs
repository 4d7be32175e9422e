//! CONTRACT §10: the key tools in `scripts/`, driven against a real database file while
//! the server runs, and against the server's `/keys` with `--remote`.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::server::ADMIN_KEY;
use crate::support::{FakeYouTube, TestServer};

const T: Duration = Duration::from_secs(5);

fn keys_tool(args: &[&str], env: &[(&str, &str)]) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lcyt-keys");
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(args)
        .env("LCYT_BIN", env!("CARGO_BIN_EXE_lcyt-backend"))
        .env_remove("DB_PATH")
        .env_remove("ADMIN_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("run lcyt-keys: {e}"))
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn local_tools_work_on_the_file_while_the_server_runs() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let db = srv.db_path.to_str().unwrap_or_default().to_string();
    let env = [("DB_PATH", db.as_str())];
    let added = json_of(&keys_tool(
        &[
            "--json",
            "add",
            "--owner",
            "Choir",
            "--key",
            "choir",
            "--daily",
            "3",
            "--expires",
            "2030-01-01",
        ],
        &env,
    ));
    assert_eq!(
        (added["key"].clone(), added["daily_limit"].clone()),
        (json!("choir"), json!(3))
    );
    assert_eq!(added["expires_at"], json!("2030-01-01T00:00:00.000Z"));
    // The running server sees the key at once.
    let s = srv.register("choir", "s", "https://a.example");
    assert_eq!(
        srv.captions(&s.token, json!([{ "text": "a" }, { "text": "b" }]))
            .status,
        202
    );
    fake.captions(2, T);
    let table = ok(&keys_tool(&["list"], &env));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("KEY") && lines[0].contains("OWNER") && lines[0].contains("USED"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("choir") && l.contains("Choir") && l.contains("2030-01-01")),
        "{table}"
    );
    let info = ok(&keys_tool(&["info", "choir"], &env));
    assert!(
        info.contains("daily_used:")
            && info
                .lines()
                .any(|l| l.starts_with("daily_used:") && l.ends_with(" 2")),
        "{info}"
    );
    let updated = json_of(&keys_tool(
        &[
            "--json",
            "update",
            "choir",
            "--daily",
            "none",
            "--lifetime",
            "10",
            "--owner",
            "Choir 2",
        ],
        &env,
    ));
    assert_eq!(
        (
            updated["daily_limit"].clone(),
            updated["lifetime_limit"].clone(),
            updated["owner"].clone()
        ),
        (Value::Null, json!(10), json!("Choir 2"))
    );
    let renewed = json_of(&keys_tool(
        &["--json", "renew", "choir", "--expires", "2031-06-01"],
        &env,
    ));
    assert_eq!(renewed["expires_at"], json!("2031-06-01T00:00:00.000Z"));
    // Revoking on the file stops captions of the live session.
    ok(&keys_tool(&["revoke", "choir"], &env));
    assert_eq!(srv.captions(&s.token, json!([{ "text": "c" }])).status, 401);
    // clean: a dry run lists, a real run purges; the server keeps running.
    srv.db()
        .execute(
            "UPDATE api_keys SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE key = 'choir'",
            [],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let dry = ok(&keys_tool(&["clean", "--days", "30", "--dry-run"], &env));
    assert!(
        dry.contains("would purge 1") && dry.contains("choir"),
        "{dry}"
    );
    assert_eq!(srv.admin("GET", "/keys/choir", None).status, 200);
    let real = ok(&keys_tool(&["clean", "--days", "30"], &env));
    assert!(real.contains("purged 1"), "{real}");
    assert_eq!(srv.admin("GET", "/keys/choir", None).status, 404);
    ok(&keys_tool(&["add", "--owner", "Tmp", "--key", "tmp"], &env));
    ok(&keys_tool(&["delete", "tmp"], &env));
    assert_eq!(srv.admin("GET", "/keys/tmp", None).status, 404);
    assert_eq!(srv.get("/health", &[]).status, 200);
}

#[test]
fn remote_tools_use_the_servers_keys_api() {
    let fake = FakeYouTube::start();
    let srv = TestServer::start(&fake.url(), &[]);
    let url = format!("http://{}", srv.addr);
    let env = [("ADMIN_KEY", ADMIN_KEY)];
    let added = json_of(&keys_tool(
        &[
            "--remote",
            &url,
            "--json",
            "add",
            "--owner",
            "School",
            "--key",
            "a b",
            "--lifetime",
            "5",
        ],
        &env,
    ));
    assert_eq!(
        (added["key"].clone(), added["lifetime_limit"].clone()),
        (json!("a b"), json!(5))
    );
    let s = srv.register("a b", "s", "https://a.example");
    let sse = srv.events(&s.token);
    let updated = json_of(&keys_tool(
        &[
            "--remote",
            &url,
            "--json",
            "update",
            "a b",
            "--lifetime",
            "none",
        ],
        &env,
    ));
    assert_eq!(updated["lifetime_limit"], Value::Null);
    assert!(ok(&keys_tool(&["--remote", &url, "list"], &env)).contains("School"));
    // A remote revoke ends the live session at once.
    ok(&keys_tool(&["--remote", &url, "revoke", "a b"], &env));
    sse.until("session_closed", T);
    ok(&keys_tool(&["--remote", &url, "delete", "a b"], &env));
    let gone = keys_tool(&["--remote", &url, "info", "a b"], &env);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
    let wrong = keys_tool(&["--remote", &url, "list"], &[("ADMIN_KEY", "wrong")]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("403"));
}

#[test]
fn usage_errors_exit_2_with_a_message_and_help_prints_usage() {
    let help = keys_tool(&["--help"], &[]);
    let text = ok(&help);
    for cmd in [
        "list",
        "add",
        "info",
        "update",
        "revoke",
        "delete",
        "renew",
        "clean",
        "--dry-run",
        "--remote",
    ] {
        assert!(text.contains(cmd), "usage lacks {cmd}");
    }
    let dir = crate::support::server::temp_dir();
    let db = dir.join("k.db");
    rusqlite::Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
    let db = db.to_str().unwrap_or_default();
    for args in [
        vec!["--db", db, "frobnicate"],
        vec!["--db", db, "add"],
        vec!["--db", db, "add", "--owner", "x", "--daily", "lots"],
        vec!["--db", db, "info"],
        vec!["--db", db, "update", "k"],
        vec!["--db", db, "renew", "k"],
        vec!["--db", db, "list", "--bogus"],
        vec!["--db", db, "clean", "--days", "-1"],
        vec!["--remote", "http://127.0.0.1:9", "list"],
    ] {
        let out = keys_tool(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("lcyt-keys: "),
            "{args:?}"
        );
    }
    for args in [
        vec!["--db", db, "info", "missing"],
        vec!["--db", "/nonexistent/x.db", "list"],
        vec!["--db", db, "revoke", "missing"],
    ] {
        let out = keys_tool(&args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let _ = std::fs::remove_dir_all(dir);
}
