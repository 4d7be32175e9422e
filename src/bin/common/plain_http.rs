//! A minimal HTTP/1.1 request reader and reply writer for the stand-in ingestion
//! endpoints: `lcyt-fake-ingest`, the benchmark's embedded fake and the integration
//! tests' fake (each includes this file with `#[path]`). Not for the server itself.

#![allow(dead_code)]

use std::io::{BufRead, Write};

pub struct PlainRequest {
    /// The request target: path and query, as sent.
    pub target: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl PlainRequest {
    /// The value of query parameter `name`, as written (not decoded).
    pub fn param(&self, name: &str) -> &str {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            .unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Caption texts of a `<timestamp>\n<text>\n…` body.
    pub fn texts(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }
}

/// Reads one request: request line, headers, and a `Content-Length` body. `None` at
/// the end of the connection or on a malformed request.
pub fn read_request(r: &mut impl BufRead) -> Option<PlainRequest> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let target = line.split(' ').nth(1)?.to_string();
    let (mut content_type, mut length) = (None, 0usize);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-type" => content_type = Some(v.trim().to_string()),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some(PlainRequest {
        target,
        content_type,
        body,
    })
}

/// Writes a `text/plain` reply with a length, keeping the connection open.
pub fn reply(out: &mut impl Write, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
