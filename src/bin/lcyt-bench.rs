//! The benchmark: starts the release server binary against an embedded fake ingestion
//! endpoint, drives it the way the Node.js original was measured (register sessions,
//! open SSE listeners, post captions, time each from `POST /captions` to its
//! `caption_result`), and reports throughput, latency, memory, threads and CPU as text
//! and JSON. Correctness under load is checked on every run: lost, duplicated and
//! out-of-order deliveries must all be 0.
//!
//! `scripts/bench` is the documented entry point; run `lcyt-bench --help` for options.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "common/plain_http.rs"]
mod plain_http;

const ADMIN: &str = "bench-admin-key";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "usage: lcyt-bench [--server PATH] [--json FILE] [--only NAME[,NAME…]] [--seconds N]\n\n\
             scenarios: floor idle idle-500 idle-1000 load-1000 instant-4x8 rtt50-4 fanout-200 sweep\n\
             --server   the lcyt-backend binary (default: next to this one)\n\
             --json     also write the results as JSON to FILE\n\
             --seconds  length of each measured phase (default 10)\n\
             --env K=V  a setting for the server under test (repeatable)"
        );
        return;
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let server = opt("--server").map(PathBuf::from).unwrap_or_else(|| {
        let me = std::env::current_exe().unwrap_or_default();
        me.with_file_name("lcyt-backend")
    });
    let seconds: u64 = opt("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let only: Option<Vec<String>> =
        opt("--only").map(|s| s.split(',').map(str::to_string).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name));
    let phase = Duration::from_secs(seconds);
    let mut results: Vec<Value> = Vec::new();
    let mut run = |name: &str, f: &dyn Fn() -> Value| {
        if wanted(name) {
            eprintln!("== {name}");
            let mut v = f();
            v["scenario"] = json!(name);
            print_result(&v);
            results.push(v);
        }
    };
    run("floor", &|| floor(phase));
    run("idle", &|| idle(&server, 0));
    run("idle-500", &|| idle(&server, 500));
    run("idle-1000", &|| idle(&server, 1000));
    run("load-1000", &|| {
        load(
            &server,
            LoadSpec {
                sessions: 1000,
                listeners_per_session: 1,
                clients: 8,
                delay_ms: 0,
                rate_per_session: None,
                phase,
            },
        )
    });
    run("instant-4x8", &|| {
        load(
            &server,
            LoadSpec {
                sessions: 4,
                listeners_per_session: 1,
                clients: 8,
                delay_ms: 0,
                rate_per_session: None,
                phase,
            },
        )
    });
    run("rtt50-4", &|| {
        load(
            &server,
            LoadSpec {
                sessions: 4,
                listeners_per_session: 1,
                clients: 4,
                delay_ms: 50,
                rate_per_session: Some(150.0),
                phase,
            },
        )
    });
    run("fanout-200", &|| {
        load(
            &server,
            LoadSpec {
                sessions: 1,
                listeners_per_session: 200,
                clients: 1,
                delay_ms: 0,
                rate_per_session: Some(50.0),
                phase,
            },
        )
    });
    if wanted("sweep") {
        for n in [10, 100, 250, 500, 1000] {
            eprintln!("== sweep-{n}");
            let spec = LoadSpec {
                sessions: n,
                listeners_per_session: 1,
                clients: 4,
                delay_ms: 0,
                rate_per_session: Some(2.0),
                phase,
            };
            let mut v = load(&server, spec);
            v["scenario"] = json!(format!("sweep-{n}"));
            print_result(&v);
            results.push(v);
        }
    }
    let report = json!({ "machine": machine(), "results": results });
    if let Some(path) = opt("--json") {
        if let Err(e) = std::fs::write(
            &path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        ) {
            eprintln!("lcyt-bench: writing {path}: {e}");
            std::process::exit(1);
        }
        eprintln!("wrote {path}");
    }
}

/// `--env K=V` options: extra settings for the server under test.
fn server_env() -> Vec<(String, String)> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .filter(|w| w[0] == "--env")
        .filter_map(|w| {
            w[1].split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({ "cpu": cpu, "cores": cores })
}

fn print_result(v: &Value) {
    let mut line = String::new();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if k != "scenario" {
                line.push_str(&format!("  {k}: {val}\n"));
            }
        }
    }
    println!("{}\n{line}", v["scenario"].as_str().unwrap_or(""));
}

// ---------------------------------------------------------------------------------
// The embedded fake ingestion endpoint

/// What the fake received, per stream key: `(seq, caption texts)` in arrival order.
#[derive(Default)]
struct FakeLog {
    by_cid: HashMap<String, Vec<(u64, Vec<String>)>>,
}

struct Fake {
    addr: SocketAddr,
    delivered: Arc<AtomicU64>,
    log: Arc<Mutex<FakeLog>>,
}

fn start_fake(delay: Duration) -> Fake {
    let listener =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| die(&format!("fake bind: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| die(&e.to_string()));
    let delivered = Arc::new(AtomicU64::new(0));
    let log = Arc::new(Mutex::new(FakeLog::default()));
    let (d, l) = (delivered.clone(), log.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let (d, l) = (d.clone(), l.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || fake_conn(conn, delay, &d, &l))
                .ok();
        }
    });
    Fake {
        addr,
        delivered,
        log,
    }
}

fn fake_conn(conn: TcpStream, delay: Duration, delivered: &AtomicU64, log: &Mutex<FakeLog>) {
    conn.set_nodelay(true).ok();
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    while let Some(rq) = plain_http::read_request(&mut r) {
        let texts = rq.texts();
        if !texts.is_empty() {
            delivered.fetch_add(texts.len() as u64, Ordering::Relaxed);
            let seq = rq.param("seq").parse().unwrap_or(u64::MAX);
            let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
            l.by_cid
                .entry(rq.param("cid").to_string())
                .or_default()
                .push((seq, texts));
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let now = lcyt_backend::time::youtube(lcyt_backend::time::now_ms());
        if plain_http::reply(&mut out, 200, &format!("{now}\n")).is_err() {
            return;
        }
    }
}

/// The server under test, so that `die` does not leave it running.
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn die(msg: &str) -> ! {
    eprintln!("lcyt-bench: {msg}");
    let pid = SERVER_PID.load(Ordering::SeqCst);
    if pid != 0 {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    std::process::exit(1);
}

// ---------------------------------------------------------------------------------
// The server under test

struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn start(bin: &PathBuf, ingest: SocketAddr) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "lcyt-bench-{}-{}",
            std::process::id(),
            lcyt_backend::time::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("temp dir: {e}")));
        let mut child = Command::new(bin)
            .env_clear()
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", dir.join("bench.db"))
            .env("ADMIN_KEY", ADMIN)
            .env("JWT_SECRET", "bench-jwt-secret")
            .env(
                "YOUTUBE_INGEST_URL",
                format!("http://{ingest}/closedcaption"),
            )
            .env("LOG_LEVEL", "info")
            .envs(server_env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| die(&format!("starting {}: {e}", bin.display())));
        let stderr = child.stderr.take().unwrap_or_else(|| die("no stderr"));
        let (tx, rx) = crossbeam_channel::bounded(1);
        // The server's log goes to $LCYT_BENCH_LOG when set (for looking into a run).
        let mut log_file = std::env::var("LCYT_BENCH_LOG")
            .ok()
            .and_then(|p| std::fs::File::create(p).ok());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening on http://").nth(1) {
                    let _ = tx.try_send(a.trim().to_string());
                }
                if let Some(f) = log_file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        SERVER_PID.store(child.id(), Ordering::SeqCst);
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| die("server did not start"));
        let addr = addr.parse().unwrap_or_else(|_| die("bad address"));
        Server { child, addr, dir }
    }

    fn status(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    }

    /// Resident memory (KiB), its high-water mark (KiB) and threads.
    fn memory(&self) -> Value {
        json!({ "rss_kib": self.status("VmRSS:"), "hwm_kib": self.status("VmHWM:"), "threads": self.status("Threads:") })
    }

    /// CPU seconds used so far (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        ticks / 100.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections_per_host(64)
        .build()
        .into()
}

fn post_json(a: &ureq::Agent, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut req = a.post(url).header("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send(body.as_bytes()) {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let mut s = String::new();
            let _ = r.body_mut().as_reader().read_to_string(&mut s);
            (status, s)
        }
        Err(e) => (0, e.to_string()),
    }
}

struct Registered {
    token: String,
    cid: String,
}

fn register(srv: &Server, n: usize) -> Vec<Registered> {
    let a = agent();
    let base = format!("http://{}", srv.addr);
    let (status, body) = post_json(
        &a,
        &format!("{base}/keys"),
        &[("X-Admin-Key", ADMIN)],
        r#"{"owner":"bench","key":"bench-key"}"#,
    );
    if status != 201 {
        die(&format!("creating key: {status} {body}"));
    }
    (0..n)
        .map(|i| {
            let cid = format!("stream-{i}");
            let b =
                json!({ "apiKey": "bench-key", "streamKey": cid, "domain": "http://bench.local" })
                    .to_string();
            let (status, body) = post_json(&a, &format!("{base}/live"), &[], &b);
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let token = v["token"]
                .as_str()
                .unwrap_or_else(|| die(&format!("register: {status} {body}")))
                .to_string();
            Registered { token, cid }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// SSE listeners

/// Arrival times of `caption_result` events, by requestId, for one listener.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn listen(
    addr: SocketAddr,
    token: &str,
    ready: &crossbeam_channel::Sender<()>,
    stop: Arc<AtomicBool>,
) -> Arrivals {
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| die(&format!("sse connect: {e}")));
    let req = format!(
        "GET /events?token={token} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .unwrap_or_else(|e| die(&format!("sse write: {e}")));
    s.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let (out, ready) = (arrivals.clone(), ready.clone());
    std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let mut buf = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            let mut connected = false;
            while !stop.load(Ordering::Relaxed) {
                let n = match s.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue
                    }
                    Err(_) => break,
                };
                let now = Instant::now();
                buf.extend_from_slice(&chunk[..n]);
                // Each frame ends with a blank line; take complete ones.
                while let Some(end) = find(&buf, b"\n\n") {
                    let frame = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 2);
                    if frame.contains("event: connected") && !connected {
                        connected = true;
                        let _ = ready.send(());
                    } else if frame.contains("event: caption_result") {
                        if let Some(id) = frame
                            .split("\"requestId\":\"")
                            .nth(1)
                            .and_then(|r| r.split('"').next())
                        {
                            out.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(id.to_string(), now);
                        }
                    }
                }
            }
        })
        .ok();
    arrivals
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------
// Scenarios

/// The generator's own loopback round trip to its fake: the floor every figure sits on.
fn floor(phase: Duration) -> Value {
    let fake = start_fake(Duration::ZERO);
    let a = agent();
    let url = format!("http://{}/closedcaption?cid=floor&seq=0", fake.addr);
    let mut lat = Vec::new();
    let end = Instant::now() + phase.min(Duration::from_secs(3));
    while Instant::now() < end {
        let t = Instant::now();
        let _ = a
            .post(&url)
            .header("Content-Type", "text/plain")
            .send("2026-01-01T00:00:00.000\nx\n".as_bytes())
            .map(|mut r| {
                let mut s = String::new();
                let _ = r.body_mut().as_reader().read_to_string(&mut s);
            });
        lat.push(t.elapsed());
    }
    json!({ "round_trips": lat.len(), "round_trip_ms": percentiles(&mut lat) })
}

fn idle(bin: &PathBuf, sessions: usize) -> Value {
    let fake = start_fake(Duration::ZERO);
    let srv = Server::start(bin, fake.addr);
    std::thread::sleep(Duration::from_millis(500));
    let before = srv.memory();
    let mut result = json!({ "memory_before": before });
    if sessions > 0 {
        let reg = register(&srv, sessions);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::unbounded();
        let _l: Vec<Arrivals> = reg
            .iter()
            .map(|r| listen(srv.addr, &r.token, &tx, stop.clone()))
            .collect();
        for _ in 0..sessions {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
        std::thread::sleep(Duration::from_secs(2));
        result["memory_idle_with_sessions"] = srv.memory();
        result["sessions"] = json!(sessions);
        stop.store(true, Ordering::Relaxed);
    }
    result
}

struct LoadSpec {
    sessions: usize,
    listeners_per_session: usize,
    clients: usize,
    delay_ms: u64,
    /// Captions offered per second per session (open loop); `None` = as fast as the
    /// clients can (closed loop, one request in flight per client).
    rate_per_session: Option<f64>,
    phase: Duration,
}

/// One accepted caption as the generator saw it.
struct Sent {
    request_id: String,
    at: Instant,
    ack: Duration,
}

fn load(bin: &PathBuf, spec: LoadSpec) -> Value {
    let fake = start_fake(Duration::from_millis(spec.delay_ms));
    let srv = Server::start(bin, fake.addr);
    let reg = Arc::new(register(&srv, spec.sessions));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::unbounded();
    let listeners: Vec<Vec<Arrivals>> = reg
        .iter()
        .map(|r| {
            (0..spec.listeners_per_session)
                .map(|_| listen(srv.addr, &r.token, &tx, stop.clone()))
                .collect()
        })
        .collect();
    for _ in 0..spec.sessions * spec.listeners_per_session {
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            die("a listener did not connect");
        }
    }
    let mem_before = srv.memory();
    let cpu_before = srv.cpu_seconds();
    let delivered_before = fake.delivered.load(Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + spec.phase;
    let refused = Arc::new(AtomicU64::new(0));
    let mid_memory = Arc::new(Mutex::new(Value::Null));
    // Clients: client c posts to sessions c, c + clients, … in turn.
    let clients: Vec<_> = (0..spec.clients)
        .map(|c| {
            let (reg, refused, base) = (
                reg.clone(),
                refused.clone(),
                format!("http://{}/captions", srv.addr),
            );
            let rate = spec.rate_per_session;
            let sessions = spec.sessions;
            let clients = spec.clients;
            std::thread::spawn(move || {
                let a = agent();
                let mine: Vec<usize> = (0..sessions).filter(|s| s % clients == c).collect();
                // Open loop: this client's share of the offered rate.
                let interval =
                    rate.map(|r| Duration::from_secs_f64(1.0 / (r * mine.len().max(1) as f64)));
                let mut sent: Vec<(usize, String, Sent)> = Vec::new();
                let mut n = 0u64;
                let mut next = Instant::now();
                while Instant::now() < deadline && !mine.is_empty() {
                    if let Some(iv) = interval {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        next += iv;
                    }
                    let s = mine[(n as usize) % mine.len()];
                    let text = format!("c{c}-{n}");
                    let body = format!(r#"{{"captions":[{{"text":"{text}"}}]}}"#);
                    let auth = format!("Bearer {}", reg[s].token);
                    let t = Instant::now();
                    let (status, resp) = post_json(&a, &base, &[("Authorization", &auth)], &body);
                    let ack = t.elapsed();
                    if status == 202 {
                        let id = resp
                            .split("\"requestId\":\"")
                            .nth(1)
                            .and_then(|r| r.split('"').next())
                            .unwrap_or("")
                            .to_string();
                        sent.push((
                            s,
                            text,
                            Sent {
                                request_id: id,
                                at: t,
                                ack,
                            },
                        ));
                    } else {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                sent
            })
        })
        .collect();
    {
        let (m, srv_addr) = (mid_memory.clone(), srv.child.id());
        let half = spec.phase / 2;
        std::thread::spawn(move || {
            std::thread::sleep(half);
            let read = |f: &str| {
                std::fs::read_to_string(format!("/proc/{srv_addr}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix(f))
                    .and_then(|v| {
                        v.split_whitespace()
                            .next()
                            .and_then(|n| n.parse::<u64>().ok())
                    })
                    .unwrap_or(0)
            };
            *m.lock().unwrap_or_else(|e| e.into_inner()) = json!({ "rss_kib": read("VmRSS:"), "hwm_kib": read("VmHWM:"), "threads": read("Threads:") });
        });
    }
    let sent: Vec<(usize, String, Sent)> = clients
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    let accept_secs = started.elapsed().as_secs_f64();
    let accepted = sent.len() as u64;
    // Wait (bounded) for delivery to catch up: the backlog at the end of the phase.
    let backlog_at_end =
        accepted.saturating_sub(fake.delivered.load(Ordering::Relaxed) - delivered_before);
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    while fake.delivered.load(Ordering::Relaxed) - delivered_before < accepted
        && Instant::now() < drain_deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let delivered = fake.delivered.load(Ordering::Relaxed) - delivered_before;
    let deliver_secs = started.elapsed().as_secs_f64();
    let cpu = srv.cpu_seconds() - cpu_before;
    std::thread::sleep(Duration::from_millis(300));
    let mem_during = mid_memory.lock().unwrap_or_else(|e| e.into_inner()).clone();
    stop.store(true, Ordering::Relaxed);

    // Latency: 202, and end to end to the last listener of the session.
    let mut acks: Vec<Duration> = sent.iter().map(|(_, _, s)| s.ack).collect();
    let mut e2e = Vec::new();
    let mut missing_results = 0u64;
    for (s, _, rec) in &sent {
        let mut worst: Option<Duration> = None;
        for l in &listeners[*s] {
            match l
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&rec.request_id)
            {
                Some(at) => {
                    worst = Some(worst.map_or(at.duration_since(rec.at), |w| {
                        w.max(at.duration_since(rec.at))
                    }))
                }
                None => missing_results += 1,
            }
        }
        if let Some(w) = worst {
            e2e.push(w);
        }
    }
    let checks = check_deliveries(&fake, &reg, &sent);
    json!({
        "sessions": spec.sessions,
        "listeners": spec.sessions * spec.listeners_per_session,
        "clients": spec.clients,
        "fake_delay_ms": spec.delay_ms,
        "offered_per_session": spec.rate_per_session,
        "accepted": accepted,
        "refused": refused.load(Ordering::Relaxed),
        "accepted_per_s": round(accepted as f64 / accept_secs),
        "delivered": delivered,
        "delivered_per_s": round(delivered as f64 / deliver_secs),
        "backlog_at_end": backlog_at_end,
        "ack_ms": percentiles(&mut acks),
        "e2e_ms": percentiles(&mut e2e),
        "results_missing": missing_results,
        "lost": checks.0,
        "duplicated": checks.1,
        "out_of_order": checks.2,
        "seq_gaps": checks.3,
        "cpu_us_per_delivered": if delivered > 0 { round(cpu * 1e6 / delivered as f64) } else { 0.0 },
        "memory_before": mem_before,
        "memory_during": mem_during,
        "memory_after": srv.memory(),
    })
}

/// (lost, duplicated, out of order, seq gaps) over every session.
fn check_deliveries(
    fake: &Fake,
    reg: &[Registered],
    sent: &[(usize, String, Sent)],
) -> (u64, u64, u64, u64) {
    let log = fake.log.lock().unwrap_or_else(|e| e.into_inner());
    let (mut lost, mut dup, mut ooo, mut gaps) = (0, 0, 0, 0);
    for (i, r) in reg.iter().enumerate() {
        let posts = log.by_cid.get(&r.cid).cloned().unwrap_or_default();
        gaps += posts.windows(2).filter(|w| w[1].0 != w[0].0 + 1).count() as u64;
        let got: Vec<&String> = posts.iter().flat_map(|(_, t)| t).collect();
        let mut seen = std::collections::HashSet::new();
        for t in &got {
            if !seen.insert(*t) {
                dup += 1;
            }
        }
        // Each client's captions to this session must arrive in the order it sent them.
        let mut last: HashMap<&str, u64> = HashMap::new();
        for t in &got {
            if let Some((client, n)) = t.split_once('-') {
                let n: u64 = n.parse().unwrap_or(0);
                if last.get(client).is_some_and(|prev| *prev > n) {
                    ooo += 1;
                }
                last.insert(client, n);
            }
        }
        lost += sent
            .iter()
            .filter(|(s, text, _)| *s == i && !seen.contains(text))
            .count() as u64;
    }
    (lost, dup, ooo, gaps)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percentiles(v: &mut [Duration]) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort();
    let at = |p: f64| {
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        (v[i].as_secs_f64() * 1e5).round() / 100.0
    };
    json!({ "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0) })
}
