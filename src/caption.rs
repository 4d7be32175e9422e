//! Pure caption logic: validate a `POST /captions` body, resolve each caption's timestamp,
//! turn line breaks into `<br>`, and format YouTube's ingestion body. No I/O, no clock reads.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::time;

/// Captions one request may carry.
pub const MAX_CAPTIONS_PER_REQUEST: usize = 200;

/// Latest instant we will format (9999-12-31T23:59:59.999).
const MAX_MS: i64 = 253_402_300_799_999;

/// A caption ready to send: its UTC instant and its single-line text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    pub at_ms: i64,
    pub text: String,
}

/// The clock facts timestamp resolution needs, fixed for one request.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: i64,
    pub sync_offset_ms: i64,
    pub started_at_ms: i64,
}

/// Validates `{captions: [...]}` and resolves every caption, or names the first bad index.
pub fn parse_request(body: &Map<String, Value>, clock: Clock) -> ApiResult<Vec<Caption>> {
    let items = match body.get("captions") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(ApiError::bad_request("captions must not be empty")),
        _ => return Err(ApiError::bad_request("captions must be a non-empty array")),
    };
    if items.len() > MAX_CAPTIONS_PER_REQUEST {
        return Err(ApiError::bad_request(format!(
            "captions may hold at most {MAX_CAPTIONS_PER_REQUEST} items"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_one(i, item, clock))
        .collect()
}

fn parse_one(i: usize, item: &Value, clock: Clock) -> ApiResult<Caption> {
    let bad = |what: &str| ApiError::bad_request(format!("captions[{i}].{what}"));
    let Value::Object(obj) = item else {
        return Err(ApiError::bad_request(format!(
            "captions[{i}] must be an object"
        )));
    };
    let text = match obj.get("text") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => return Err(bad("text must be a non-empty string")),
    };
    let timestamp = obj.get("timestamp").filter(|v| !v.is_null());
    let time_field = obj.get("time").filter(|v| !v.is_null());
    let at_ms = match (timestamp, time_field) {
        (Some(_), Some(_)) => return Err(bad("time cannot be combined with timestamp")),
        (Some(Value::String(s)), None) => {
            time::parse_iso(s).ok_or_else(|| bad("timestamp is not a valid ISO 8601 date-time"))?
        }
        (Some(Value::Number(n)), None) => {
            let n = n.as_f64().ok_or_else(|| bad("timestamp is not a number"))?;
            if n >= 1000.0 {
                n.round() as i64
            } else {
                clock
                    .now_ms
                    .saturating_add(clock.sync_offset_ms)
                    .saturating_add((n * 1000.0).round() as i64)
            }
        }
        (Some(_), None) => return Err(bad("timestamp must be a string or a number")),
        (None, Some(Value::Number(n))) => {
            let ms = n.as_f64().ok_or_else(|| bad("time is not a number"))?;
            clock
                .started_at_ms
                .saturating_add(ms.round() as i64)
                .saturating_add(clock.sync_offset_ms)
        }
        (None, Some(_)) => return Err(bad("time must be a number")),
        (None, None) => clock.now_ms + clock.sync_offset_ms + (i as i64) * 100,
    };
    if !(0..=MAX_MS).contains(&at_ms) {
        return Err(bad("timestamp is out of range"));
    }
    Ok(Caption {
        at_ms,
        text: single_line(text),
    })
}

/// `\r\n`, `\n` and `\r` become `<br>`: a raw newline would start a forged caption line.
pub fn single_line(text: &str) -> String {
    text.replace("\r\n", "<br>").replace(['\n', '\r'], "<br>")
}

/// YouTube's body: `<timestamp>\n<text>\n` for each caption, always ending in `\n`.
pub fn ingest_body<'a>(captions: impl IntoIterator<Item = &'a Caption>) -> String {
    let mut body = String::new();
    for c in captions {
        body.push_str(&time::youtube(c.at_ms));
        body.push('\n');
        body.push_str(&c.text);
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_796_299_200_000; // 2026-12-03T12:00:00.000Z
    const CLOCK: Clock = Clock {
        now_ms: NOW,
        sync_offset_ms: 250,
        started_at_ms: NOW - 60_000,
    };

    fn resolve(captions: Value) -> ApiResult<Vec<Caption>> {
        let body = json!({ "captions": captions });
        parse_request(body.as_object().unwrap_or(&Map::new()), CLOCK)
    }

    fn instants(captions: Value) -> Vec<String> {
        resolve(captions)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .iter()
            .map(|c| time::iso(c.at_ms))
            .collect()
    }

    #[test]
    fn resolves_each_timestamp_form() {
        let cases = [
            (
                json!([{"text": "a"}, {"text": "b"}]),
                vec!["2026-12-03T12:00:00.250Z", "2026-12-03T12:00:00.350Z"],
            ),
            (
                json!([{"text": "a", "timestamp": "2026-12-03T10:00:00.5Z"}]),
                vec!["2026-12-03T10:00:00.500Z"],
            ),
            (
                json!([{"text": "a", "timestamp": "2026-12-03T10:00:00+02:00"}]),
                vec!["2026-12-03T08:00:00.000Z"],
            ),
            (
                json!([{"text": "a", "timestamp": "2026-12-03T10:00:00"}]),
                vec!["2026-12-03T10:00:00.000Z"],
            ),
            (
                json!([{"text": "a", "timestamp": 1_796_299_100_000_i64}]),
                vec!["2026-12-03T11:58:20.000Z"],
            ),
            (
                json!([{"text": "a", "timestamp": 1000}]),
                vec!["1970-01-01T00:00:01.000Z"],
            ),
            (
                json!([{"text": "a", "timestamp": 5}]),
                vec!["2026-12-03T12:00:05.250Z"],
            ),
            (
                json!([{"text": "a", "timestamp": -2.5}]),
                vec!["2026-12-03T11:59:57.750Z"],
            ),
            (
                json!([{"text": "a", "time": 1500}]),
                vec!["2026-12-03T11:59:01.750Z"],
            ),
            (
                json!([{"text": "a", "timestamp": null, "time": null}]),
                vec!["2026-12-03T12:00:00.250Z"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(instants(input.clone()), want, "{input}");
        }
    }

    #[test]
    fn rejects_bad_captions_naming_the_index() {
        let cases = [
            (json!("x"), "captions must be a non-empty array"),
            (json!([]), "captions must not be empty"),
            (
                json!([{"text": "ok"}, {"text": ""}]),
                "captions[1].text must be a non-empty string",
            ),
            (
                json!([{"text": 5}]),
                "captions[0].text must be a non-empty string",
            ),
            (json!([7]), "captions[0] must be an object"),
            (
                json!([{"text": "a", "timestamp": "soon"}]),
                "captions[0].timestamp is not a valid ISO 8601 date-time",
            ),
            (
                json!([{"text": "a", "timestamp": true}]),
                "captions[0].timestamp must be a string or a number",
            ),
            (
                json!([{"text": "a", "time": "5"}]),
                "captions[0].time must be a number",
            ),
            (
                json!([{"text": "a", "time": 5, "timestamp": 5}]),
                "captions[0].time cannot be combined with timestamp",
            ),
            (
                json!([{"text": "a", "timestamp": 1e300}]),
                "captions[0].timestamp is out of range",
            ),
        ];
        for (input, want) in cases {
            let got = resolve(input.clone())
                .err()
                .map(|e| e.message().to_string());
            assert_eq!(got.as_deref(), Some(want), "{input}");
        }
        let many: Vec<Value> = (0..201).map(|_| json!({"text": "x"})).collect();
        assert!(resolve(Value::Array(many)).is_err());
    }

    #[test]
    fn line_breaks_become_br_and_body_ends_with_newline() {
        assert_eq!(single_line("a\r\nb\nc\rd"), "a<br>b<br>c<br>d");
        let caps = [
            Caption {
                at_ms: NOW,
                text: "one".into(),
            },
            Caption {
                at_ms: NOW + 1,
                text: single_line("two\nlines"),
            },
        ];
        assert_eq!(
            ingest_body(&caps),
            "2026-12-03T12:00:00.000\none\n2026-12-03T12:00:00.001\ntwo<br>lines\n"
        );
    }
}
