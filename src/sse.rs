//! The dedicated SSE thread of one listener: writes the response head itself, then each
//! frame as one HTTP chunk followed by a flush (tiny_http's own streaming would hold
//! events back in 8 KiB buffers), a `: ping` comment when idle, and the final chunk when
//! the session closes. A failed write ends the thread at once.

use std::io::{self, Write};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use crate::hub::Subscription;

/// What a worker hands over for a new listener.
pub struct Stream {
    pub session_id: String,
    pub subscription: Subscription,
    pub headers: Vec<(String, String)>,
}

fn head(headers: &[(String, String)]) -> String {
    let mut h = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
         X-Accel-Buffering: no\r\nVary: Origin\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n",
    );
    for (k, v) in headers {
        // Header values come from our own code and validated origins; refuse line breaks anyway.
        if !k.contains(['\r', '\n']) && !v.contains(['\r', '\n']) {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    h.push_str("\r\n");
    h
}

fn chunk(w: &mut dyn Write, data: &str) -> io::Result<()> {
    write_chunk(w, data)?;
    w.flush()
}

fn write_chunk(w: &mut dyn Write, data: &str) -> io::Result<()> {
    write!(w, "{:x}\r\n{data}\r\n", data.len())
}

/// Starts the listener's thread; `ping` is the idle interval between `: ping` comments.
pub fn spawn(ping: Duration, mut writer: Box<dyn Write + Send>, stream: Stream) -> io::Result<()> {
    let name = format!("sse-{}-{}", stream.session_id, stream.subscription.number);
    std::thread::Builder::new()
        .name(name)
        .stack_size(128 * 1024)
        .spawn(move || {
            let sid = stream.session_id.clone();
            match run(&mut *writer, stream, ping) {
                Ok(()) => log::debug!("sse listener of session {sid} closed"),
                Err(e) => log::debug!("sse listener of session {sid} dropped: {e}"),
            }
        })?;
    Ok(())
}

fn run(w: &mut dyn Write, stream: Stream, ping: Duration) -> io::Result<()> {
    let Stream {
        subscription,
        headers,
        ..
    } = stream;
    let _guard = subscription.guard;
    w.write_all(head(&headers).as_bytes())?;
    for f in &subscription.first {
        chunk(w, f)?;
    }
    loop {
        match subscription.frames.recv_timeout(ping) {
            Ok(f) => {
                // Whatever else is already waiting goes out in the same write: one
                // chunk per event, one flush per wake-up.
                write_chunk(w, &f)?;
                while let Ok(more) = subscription.frames.try_recv() {
                    write_chunk(w, &more)?;
                }
                w.flush()?;
            }
            Err(RecvTimeoutError::Timeout) => chunk(w, ": ping\n\n")?,
            Err(RecvTimeoutError::Disconnected) => {
                w.write_all(b"0\r\n\r\n")?;
                return w.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_and_flushed() {
        let mut out = Vec::new();
        assert!(chunk(&mut out, "id: 1\n\n").is_ok());
        assert_eq!(out, b"7\r\nid: 1\n\n\r\n");
        let h = head(&[
            ("A".into(), "b".into()),
            ("Bad".into(), "x\r\nInjected: 1".into()),
        ]);
        assert!(h.contains("A: b\r\n") && !h.contains("Injected"));
        assert!(h.ends_with("\r\n\r\n"));
    }
}
