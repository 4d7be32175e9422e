//! The real server binary on an ephemeral port, with its own database in a temp dir.
//! Its log (stderr) is collected so tests can read it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::bounded;
use serde_json::{json, Value};

use super::client::{request, Resp};
use super::sse::SseReader;

pub const ADMIN_KEY: &str = "test-admin-key-0123";
pub const JWT_SECRET: &str = "test-jwt-secret-4567";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn temp_dir() -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("lcyt-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("temp dir: {e}"));
    dir
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub db_path: PathBuf,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Starts the server against `ingest_url` with test defaults plus `env`.
    pub fn start(ingest_url: &str, env: &[(&str, &str)]) -> TestServer {
        let dir = temp_dir();
        let db_path = dir.join("lcyt.db");
        Self::start_with_db(ingest_url, env, dir, db_path)
    }

    pub fn start_with_db(
        ingest_url: &str,
        env: &[(&str, &str)],
        dir: PathBuf,
        db_path: PathBuf,
    ) -> TestServer {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lcyt-backend"));
        cmd.env_clear()
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", &db_path)
            .env("ADMIN_KEY", ADMIN_KEY)
            .env("JWT_SECRET", JWT_SECRET)
            .env("YOUTUBE_INGEST_URL", ingest_url)
            .env("LOG_LEVEL", "debug")
            .env("INGEST_TIMEOUT", "2000")
            .env("INGEST_CONNECT_TIMEOUT", "1000")
            .env("REGISTER_SYNC_TIMEOUT", "1000")
            .env("DRAIN_TIMEOUT", "1000");
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn server: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = bounded(1);
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.try_send(addr.trim().to_string());
                }
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!("server did not start: {:?}", log.lock().map(|l| l.clone()))
            });
        let addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("bad addr {addr}: {e}"));
        TestServer {
            addr,
            dir,
            db_path,
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n")
    }

    /// The server's OS thread count, from /proc.
    pub fn threads(&self) -> usize {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The names of the server's threads, sorted (for diagnostics).
    pub fn thread_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .map(|n| n.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, None)
    }

    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        request(self.addr, method, path, headers, Some(&body.to_string()))
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let body = body.map(Value::to_string);
        request(
            self.addr,
            method,
            path,
            &[("X-Admin-Key", ADMIN_KEY)],
            body.as_deref(),
        )
    }

    /// Creates a key with these extra fields; returns it.
    pub fn create_key(&self, extra: Value) -> String {
        let mut body = json!({ "owner": "Test Owner" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let r = self.admin("POST", "/keys", Some(&body));
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["key"].as_str().unwrap_or_default().to_string()
    }

    pub fn register(&self, api_key: &str, stream_key: &str, domain: &str) -> Session {
        let body = json!({ "apiKey": api_key, "streamKey": stream_key, "domain": domain });
        let r = self.send("POST", "/live", &[], &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        Session {
            token: j["token"].as_str().unwrap_or_default().to_string(),
            id: j["sessionId"].as_str().unwrap_or_default().to_string(),
            body: j,
        }
    }

    pub fn bearer(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let body = body.map(Value::to_string);
        request(
            self.addr,
            method,
            path,
            &[("Authorization", &auth)],
            body.as_deref(),
        )
    }

    pub fn captions(&self, token: &str, captions: Value) -> Resp {
        self.bearer(
            "POST",
            "/captions",
            token,
            Some(&json!({ "captions": captions })),
        )
    }

    pub fn events(&self, token: &str) -> SseReader {
        SseReader::open(self.addr, &format!("/events?token={token}"), &[])
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db_path).unwrap_or_else(|e| panic!("open db: {e}"))
    }

    /// Rows of a one-column-per-field query, as strings.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let conn = self.db();
        let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        let v: rusqlite::types::Value = r.get(i)?;
                        Ok(match v {
                            rusqlite::types::Value::Null => "NULL".to_string(),
                            rusqlite::types::Value::Integer(n) => n.to_string(),
                            rusqlite::types::Value::Real(f) => f.to_string(),
                            rusqlite::types::Value::Text(t) => t,
                            rusqlite::types::Value::Blob(_) => "<blob>".to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.map(|r| r.unwrap_or_else(|e| panic!("{e}"))).collect()
    }

    /// Sends SIGTERM (or any signal) to the server.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Session {
    pub token: String,
    pub id: String,
    pub body: Value,
}
