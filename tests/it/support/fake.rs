//! A fake YouTube caption ingestion endpoint on 127.0.0.1:0. Records every request
//! (cid, seq, content type, body) and answers as told: any status, a delay, a dropped
//! connection, or a stall. By default: 200 with its clock as YouTube formats it.

use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

#[path = "../../../src/bin/common/plain_http.rs"]
mod plain_http;

#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answer with this status and body.
    Status(u16, String),
    /// Wait, then answer 200 with the clock.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
    /// Never answer (until the fake is dropped or 60 s pass).
    Stall,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub cid: String,
    pub seq: u64,
    pub content_type: Option<String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn is_heartbeat(&self) -> bool {
        self.body.is_empty()
    }

    /// The caption texts of the body (`<timestamp>\n<text>\n` pairs).
    pub fn texts(&self) -> Vec<String> {
        self.body
            .lines()
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    pub fn timestamps(&self) -> Vec<String> {
        self.body.lines().step_by(2).map(str::to_string).collect()
    }
}

#[derive(Default)]
struct Script {
    /// One-shot behaviours for the next requests of any cid.
    next: VecDeque<Behavior>,
    /// Standing behaviour for one cid.
    per_cid: HashMap<String, Behavior>,
    clock_offset_ms: i64,
}

pub struct FakeYouTube {
    pub addr: SocketAddr,
    records: Receiver<Received>,
    script: Arc<Mutex<Script>>,
    closed: Arc<AtomicBool>,
}

impl FakeYouTube {
    pub fn start() -> FakeYouTube {
        let listener =
            TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind fake: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = unbounded();
        let script = Arc::new(Mutex::new(Script::default()));
        let closed = Arc::new(AtomicBool::new(false));
        let (s, c) = (script.clone(), closed.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if c.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (tx, s, c) = (tx.clone(), s.clone(), c.clone());
                std::thread::spawn(move || serve(conn, &tx, &s, &c));
            }
        });
        FakeYouTube {
            addr,
            records: rx,
            script,
            closed,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/closedcaption", self.addr)
    }

    /// The next requests (any cid) get these behaviours, in order.
    pub fn then(&self, b: Behavior) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next
            .push_back(b);
    }

    /// Every request for `cid` gets this behaviour from now on.
    pub fn for_cid(&self, cid: &str, b: Behavior) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .per_cid
            .insert(cid.to_string(), b);
    }

    /// The fake's clock runs this far ahead of the real one.
    pub fn set_clock_offset(&self, ms: i64) {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clock_offset_ms = ms;
    }

    /// The next request of any kind.
    pub fn next(&self, within: Duration) -> Option<Received> {
        self.records.recv_timeout(within).ok()
    }

    /// The next request carrying captions (heartbeats skipped).
    pub fn next_captions(&self, within: Duration) -> Option<Received> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.records.recv_timeout(left).ok()?;
            if !r.is_heartbeat() {
                return Some(r);
            }
        }
    }

    /// Caption POSTs until `n` captions have arrived.
    pub fn captions(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut count = 0;
        while count < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_captions(left) {
                Some(r) => {
                    count += r.texts().len();
                    got.push(r);
                }
                None => panic!("fake got {count} of {n} captions"),
            }
        }
        got
    }

    /// Nothing more arrives within `within`.
    pub fn quiet(&self, within: Duration) -> bool {
        self.next_captions(within).is_none()
    }
}

impl Drop for FakeYouTube {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

pub fn youtube_time(ms: i64) -> String {
    lcyt_backend::time::youtube(ms)
}

fn serve(conn: TcpStream, tx: &Sender<Received>, script: &Mutex<Script>, closed: &AtomicBool) {
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    while let Some(rq) = plain_http::read_request(&mut reader) {
        let cid = lcyt_backend::http::percent_decode(rq.param("cid"), false);
        let rec = Received {
            path: rq.path().to_string(),
            seq: rq.param("seq").parse().unwrap_or(u64::MAX),
            cid: cid.clone(),
            content_type: rq.content_type.clone(),
            body: String::from_utf8_lossy(&rq.body).to_string(),
            at: Instant::now(),
        };
        let (behavior, offset) = {
            let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
            let b = s.next.pop_front().or_else(|| s.per_cid.get(&cid).cloned());
            (b, s.clock_offset_ms)
        };
        let _ = tx.send(rec);
        let now = || youtube_time(lcyt_backend::time::now_ms() + offset);
        let (status, text) = match behavior {
            None => (200, format!("{}\n", now())),
            Some(Behavior::Status(code, text)) => (code, text),
            Some(Behavior::Delay(d)) => {
                std::thread::sleep(d);
                (200, format!("{}\n", now()))
            }
            Some(Behavior::Drop) => return,
            Some(Behavior::Stall) => {
                let until = Instant::now() + Duration::from_secs(60);
                while Instant::now() < until && !closed.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
        };
        if plain_http::reply(&mut writer, status, &text).is_err() {
            return;
        }
    }
}
