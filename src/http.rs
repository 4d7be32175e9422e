//! Our own request/response values, built from and written to tiny_http here and in
//! `server`/`sse` only. Owns the 64 KiB body cap, query parsing and URL redaction.

use std::io::Read;
use std::net::SocketAddr;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Request bodies larger than this are answered `413` without being read further.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// A request as handlers see it: the body is read (or refused) before a handler runs.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    /// Raw path, without the query string.
    pub path: String,
    /// Percent-decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Builds a request from parts; `url` may carry a query string.
    pub fn new(method: Method, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Req {
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, parse_query(q)),
            None => (url, Vec::new()),
        };
        Req {
            method,
            path: path.to_string(),
            query,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn origin(&self) -> Option<&str> {
        self.header("origin").filter(|o| !o.is_empty())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// The body as a JSON object; an empty body counts as `{}`.
    pub fn json_object(&self) -> ApiResult<Map<String, Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
            Err(e) => Err(ApiError::bad_request(format!("Invalid JSON body: {e}"))),
        }
    }
}

/// Reads at most `MAX_BODY` bytes; one byte more means the body is too large.
pub fn read_body(reader: &mut dyn Read, declared: Option<usize>) -> ApiResult<Vec<u8>> {
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY));
    reader
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::bad_request(format!("Could not read request body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(body)
}

/// A response value. Every reply gets `Cache-Control: no-store` unless it sets its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn ok(value: &Value) -> Reply {
        Reply::json(200, value)
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header, replacing one of the same name.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn headers(mut self, extra: Vec<(String, String)>) -> Reply {
        for (k, v) in extra {
            self = self.header(&k, &v);
        }
        self
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (and `+` as space when `plus` is set). Invalid escapes stay as written.
pub fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k, true), percent_decode(v, true)),
            None => (percent_decode(p, true), String::new()),
        })
        .collect()
}

/// The URL with the value of every `token` query parameter replaced, for logging.
pub fn redact_url(url: &str) -> String {
    let Some((path, q)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = q
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if percent_decode(k, true).eq_ignore_ascii_case("token") => {
                format!("{k}=<redacted>")
            }
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// The peer address, for logs.
pub fn peer(addr: Option<&SocketAddr>) -> String {
    addr.map_or_else(|| "-".into(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        for (raw, want) in [
            ("abc", "abc"),
            ("a%20b", "a b"),
            ("a+b", "a b"),
            ("%41%42", "AB"),
            ("100%", "100%"),
            ("%zz", "%zz"),
            ("%4", "%4"),
            ("%C3%A4", "ä"),
        ] {
            assert_eq!(percent_decode(raw, true), want, "{raw}");
        }
        assert_eq!(percent_decode("a+b", false), "a+b");
    }

    #[test]
    fn token_is_redacted_from_urls() {
        assert_eq!(
            redact_url("/events?token=abc.def"),
            "/events?token=<redacted>"
        );
        assert_eq!(
            redact_url("/events?x=1&TOKEN=s&y=2"),
            "/events?x=1&TOKEN=<redacted>&y=2"
        );
        assert_eq!(redact_url("/health"), "/health");
    }

    #[test]
    fn body_cap_refuses_one_byte_more() {
        let big = vec![b'x'; MAX_BODY + 1];
        assert_eq!(
            read_body(&mut &big[..], None),
            Err(ApiError::PayloadTooLarge)
        );
        assert_eq!(
            read_body(&mut &big[..MAX_BODY], None).map(|b| b.len()),
            Ok(MAX_BODY)
        );
        assert_eq!(
            read_body(&mut &b""[..], Some(10_000_000)),
            Err(ApiError::PayloadTooLarge)
        );
    }

    #[test]
    fn json_object_rejects_non_objects() {
        let req = |b: &str| Req::new(Method::Post, "/", vec![], b.as_bytes().to_vec());
        assert!(req("").json_object().is_ok());
        assert!(req("{\"a\":1}").json_object().is_ok());
        for bad in ["[1]", "\"x\"", "{", "nul"] {
            assert_eq!(
                req(bad).json_object().map_err(|e| e.status()),
                Err(400),
                "{bad}"
            );
        }
    }
}
