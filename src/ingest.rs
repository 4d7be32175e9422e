//! The YouTube ingestion client: the URL, the POST, bounded timeouts, and what came back.
//! The only code that knows ureq. Never logs the URL (it carries the stream key).

use std::io::Read;
use std::time::Duration;

use crate::secret::StreamKey;

/// Bytes of a response body we read (YouTube answers with a timestamp line).
const MAX_RESPONSE_BODY: u64 = 16 * 1024;

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered, with any status.
    Answered { status: u16, body: String },
    /// No answer: connection refused or dropped, timeout, TLS failure. A short cause.
    Failed(String),
}

pub struct Ingest {
    agent: ureq::Agent,
    base_url: String,
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<base>?cid=<key>&seq=<n>`, or `&cid=…` when the base already has a query.
pub fn url(base: &str, stream_key: &StreamKey, seq: u64) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!(
        "{base}{sep}cid={}&seq={seq}",
        percent_encode(stream_key.expose())
    )
}

impl Ingest {
    pub fn new(base_url: &str, connect_timeout: Duration, timeout: Duration) -> Ingest {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent("lcyt-backend")
            // ureq's 128 KiB defaults, allocated per connection, dominate a small
            // server's heap; an ingestion exchange is a timestamp line each way.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(32 * 1024)
            .build()
            .into();
        Ingest {
            agent,
            base_url: base_url.to_string(),
        }
    }

    /// POSTs `body` (`text/plain`, no charset: YouTube rejects one) with `seq`, giving
    /// up after `timeout` (never longer than the agent's own timeout).
    pub fn post(&self, stream_key: &StreamKey, seq: u64, body: &str, timeout: Duration) -> Outcome {
        let result = self
            .agent
            .post(&url(&self.base_url, stream_key, seq))
            .header("Content-Type", "text/plain")
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(body.as_bytes());
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let mut text = String::new();
                let read = resp
                    .body_mut()
                    .as_reader()
                    .take(MAX_RESPONSE_BODY)
                    .read_to_string(&mut text);
                match read {
                    Ok(_) => Outcome::Answered { status, body: text },
                    // A status with an unreadable body is still the endpoint's answer.
                    Err(_) => Outcome::Answered {
                        status,
                        body: String::new(),
                    },
                }
            }
            Err(e) => Outcome::Failed(describe(&e)),
        }
    }
}

/// A short cause without the URL (ureq's messages may quote it, with the stream key).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::Io(io) => format!("connection failed: {}", io.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Tls(_) => "TLS error".into(),
        _ => "request failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_adds_cid_and_seq() {
        let key = StreamKey::new("ab cd/&=");
        assert_eq!(
            url("http://h/cc", &key, 7),
            "http://h/cc?cid=ab%20cd%2F%26%3D&seq=7"
        );
        assert_eq!(
            url("http://h/cc?lang=fi", &key, 0),
            "http://h/cc?lang=fi&cid=ab%20cd%2F%26%3D&seq=0"
        );
        assert_eq!(
            url("https://h/cc", &StreamKey::new("x-Y_1.2~"), 1),
            "https://h/cc?cid=x-Y_1.2~&seq=1"
        );
    }
}
