//! Field-by-field validation of JSON request bodies: each accessor either returns a typed
//! value or a `400` naming the field. `null` means absent unless the caller asks for
//! `Nullable` (where `null` clears something).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// A PATCH field: not sent, sent as `null` (clear), or sent with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nullable<T> {
    Absent,
    Null,
    Value(T),
}

pub struct Fields<'a>(pub &'a Map<String, Value>);

fn present<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

impl<'a> Fields<'a> {
    pub fn opt_str(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match present(self.0, name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
        }
    }

    pub fn opt_nonempty_str(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match self.opt_str(name)? {
            Some(s) if s.trim().is_empty() => Err(ApiError::bad_request(format!(
                "{name} must be a non-empty string"
            ))),
            other => Ok(other),
        }
    }

    pub fn nonempty_str(&self, name: &str) -> ApiResult<&'a str> {
        self.opt_nonempty_str(name)?
            .ok_or_else(|| ApiError::bad_request(format!("{name} must be a non-empty string")))
    }

    pub fn opt_u64(&self, name: &str) -> ApiResult<Option<u64>> {
        match present(self.0, name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a non-negative integer"))
            }),
        }
    }

    pub fn nullable_u64(&self, name: &str) -> ApiResult<Nullable<u64>> {
        match self.0.get(name) {
            None => Ok(Nullable::Absent),
            Some(Value::Null) => Ok(Nullable::Null),
            Some(_) => self
                .opt_u64(name)
                .map(|v| v.map_or(Nullable::Absent, Nullable::Value)),
        }
    }

    pub fn nullable_str(&self, name: &str) -> ApiResult<Nullable<&'a str>> {
        match self.0.get(name) {
            None => Ok(Nullable::Absent),
            Some(Value::Null) => Ok(Nullable::Null),
            Some(Value::String(s)) => Ok(Nullable::Value(s)),
            Some(_) => Err(ApiError::bad_request(format!(
                "{name} must be a string or null"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn strings_and_integers_are_checked_by_type() {
        let m = map(json!({"s": "x", "e": " ", "n": 5, "neg": -1, "f": 1.5, "z": null}));
        let f = Fields(&m);
        assert_eq!(f.nonempty_str("s"), Ok("x"));
        assert!(f.nonempty_str("e").is_err());
        assert!(f.nonempty_str("missing").is_err());
        assert_eq!(f.opt_str("z"), Ok(None));
        assert!(f.opt_str("n").is_err());
        assert_eq!(f.opt_u64("n"), Ok(Some(5)));
        assert!(f.opt_u64("neg").is_err());
        assert!(f.opt_u64("f").is_err());
        assert_eq!(f.nullable_u64("z"), Ok(Nullable::Null));
        assert_eq!(f.nullable_u64("missing"), Ok(Nullable::Absent));
        assert_eq!(f.nullable_u64("n"), Ok(Nullable::Value(5)));
        let err = f.opt_u64("neg").err().map(|e| e.message().to_string());
        assert_eq!(err.as_deref(), Some("neg must be a non-negative integer"));
    }
}
