//! A stand-in for YouTube's caption ingestion endpoint, for trying the relay without a
//! live stream and for the benchmark: answers every POST with 200 and its clock in
//! YouTube's format, after `DELAY_MS`, and prints one line per request (seq, captions).
//!
//! `PORT` (default 3001), `DELAY_MS` (default 0), `QUIET=1` prints nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let delay = Duration::from_millis(
        std::env::var("DELAY_MS")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    );
    let quiet = std::env::var("QUIET").is_ok_and(|q| q == "1");
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("lcyt-fake-ingest: binding 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("fake ingestion endpoint on http://127.0.0.1:{port}/closedcaption (delay {delay:?})");
    for conn in listener.incoming().map_while(Result::ok) {
        std::thread::spawn(move || serve(conn, delay, quiet));
    }
}

fn serve(conn: TcpStream, delay: Duration, quiet: bool) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let target = line.split(' ').nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if !quiet {
            let seq = target.split("seq=").nth(1).unwrap_or("?");
            let captions = body.iter().filter(|b| **b == b'\n').count() / 2;
            println!("seq={seq} captions={captions}");
        }
        std::thread::sleep(delay);
        let now = lcyt_backend::time::youtube(lcyt_backend::time::now_ms());
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{now}\n",
            now.len() + 1
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}
