//! Test support: the real server as a child process, a fake YouTube, a raw HTTP client
//! and an SSE reader. Everything waits on channels with timeouts, never on fixed sleeps.

#![allow(dead_code)]

pub mod client;
pub mod fake;
pub mod server;
pub mod sse;

pub use client::{request, Resp};
pub use fake::{Behavior, FakeYouTube};
pub use server::TestServer;
pub use sse::SseReader;

use std::time::{Duration, Instant};

/// Polls `f` until it returns `Some`, or panics with `what` after `within`.
pub fn eventually<T>(within: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Decodes base64url without padding (JWT segments).
pub fn base64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' | b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').map(val).collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (u32::from(*v) << (18 - 6 * i)));
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
