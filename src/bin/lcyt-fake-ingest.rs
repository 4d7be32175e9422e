//! A stand-in for YouTube's caption ingestion endpoint, for trying the relay without a
//! live stream and for the benchmark: answers every POST with 200 and its clock in
//! YouTube's format, after `DELAY_MS`, and prints one line per request (seq, captions).
//!
//! `PORT` (default 3001), `DELAY_MS` (default 0), `QUIET=1` prints nothing.

use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[path = "common/plain_http.rs"]
mod plain_http;

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
    while let Some(rq) = plain_http::read_request(&mut reader) {
        if !quiet {
            println!("seq={} captions={}", rq.param("seq"), rq.texts().len());
        }
        std::thread::sleep(delay);
        let now = lcyt_backend::time::youtube(lcyt_backend::time::now_ms());
        if plain_http::reply(&mut out, 200, &format!("{now}\n")).is_err() {
            return;
        }
    }
}
