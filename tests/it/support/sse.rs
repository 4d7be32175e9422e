//! An SSE client over a raw socket: checks the head, decodes chunked framing and parses
//! events on a background thread, so a test can wait for each with a timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use serde_json::Value;

use super::client::Resp;

#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<u64>,
    /// The event name, or `:comment` for a comment line such as `: ping`.
    pub event: String,
    pub data: Value,
    pub at: Instant,
}

pub enum Item {
    Event(Event),
    /// The server ended the stream (final chunk or EOF).
    Closed,
}

pub struct SseReader {
    /// The response head (status and headers; body empty).
    pub head: Resp,
    items: Receiver<Item>,
    stream: TcpStream,
}

impl SseReader {
    pub fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> SseReader {
        Self::try_open(addr, path, headers)
            .unwrap_or_else(|r| panic!("SSE refused: {} {}", r.status, r.body))
    }

    /// Opens the stream; a non-200 answer comes back as `Err` with its body.
    pub fn try_open(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<SseReader, Resp> {
        let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut reader = BufReader::new(s.try_clone().unwrap_or_else(|e| panic!("{e}")));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut parsed = super::client::parse_response(format!("{head}\r\n").as_bytes());
        if parsed.status != 200 {
            let len: usize = parsed
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            parsed.body = String::from_utf8_lossy(&body).to_string();
            return Err(parsed);
        }
        let (tx, rx) = unbounded();
        std::thread::spawn(move || {
            let mut text = String::new();
            loop {
                // Chunk size line, then that many bytes, then CRLF.
                let mut size_line = String::new();
                if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                    break;
                }
                let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
                    break;
                };
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size + 2];
                if reader.read_exact(&mut chunk).is_err() {
                    break;
                }
                text.push_str(&String::from_utf8_lossy(&chunk[..size]));
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if let Some(ev) = parse_block(&block) {
                        let _ = tx.send(Item::Event(ev));
                    }
                }
            }
            let _ = tx.send(Item::Closed);
        });
        Ok(SseReader {
            head: parsed,
            items: rx,
            stream: s,
        })
    }

    /// The next event (comments included), or `None` on timeout or close.
    pub fn next_any(&self, within: Duration) -> Option<Event> {
        match self.items.recv_timeout(within) {
            Ok(Item::Event(e)) => Some(e),
            _ => None,
        }
    }

    /// The next real event, skipping comments.
    pub fn next(&self, within: Duration) -> Option<Event> {
        let deadline = Instant::now() + within;
        loop {
            let e = self.next_any(deadline.saturating_duration_since(Instant::now()))?;
            if e.event != ":comment" {
                return Some(e);
            }
        }
    }

    /// The next real event, which must exist.
    pub fn expect(&self, within: Duration) -> Event {
        self.next(within)
            .unwrap_or_else(|| panic!("no SSE event within {within:?}"))
    }

    /// Skips events until one named `name`.
    pub fn until(&self, name: &str, within: Duration) -> Event {
        let deadline = Instant::now() + within;
        loop {
            let e = self
                .next(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|| panic!("no {name} event within {within:?}"));
            if e.event == name {
                return e;
            }
        }
    }

    /// Waits for the server to end the stream, skipping events.
    pub fn closed(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            match self
                .items
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Item::Closed) => return true,
                Ok(Item::Event(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn parse_block(block: &str) -> Option<Event> {
    let mut id = None;
    let mut event = None;
    let mut data = String::new();
    for line in block.lines() {
        if line.starts_with(':') {
            return Some(Event {
                id: None,
                event: ":comment".into(),
                data: Value::String(line.into()),
                at: Instant::now(),
            });
        }
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    Some(Event {
        id,
        event: event?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        at: Instant::now(),
    })
}
