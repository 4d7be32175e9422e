//! `ApiError`, the one error type of the request path: each variant is a status, its
//! `{"error": …}` body and any headers. Internal detail is logged, never sent.

use crate::http::Reply;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    /// Known path, wrong method; carries the `Allow` header value.
    MethodNotAllowed(&'static str),
    PayloadTooLarge,
    Conflict(String),
    TooManyRequests(String),
    BadGateway(String),
    Unavailable {
        message: String,
        retry_after_secs: Option<u32>,
    },
    /// Logged with its detail; the client sees only "Internal server error".
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::Unavailable {
            message: msg.into(),
            retry_after_secs: None,
        }
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into())
    }
    pub fn session_ended() -> Self {
        Self::Unauthorized("Session ended or expired".into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::PayloadTooLarge => 413,
            Self::Conflict(_) => 409,
            Self::TooManyRequests(_) => 429,
            Self::BadGateway(_) => 502,
            Self::Unavailable { .. } => 503,
            Self::Internal(_) => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::TooManyRequests(m)
            | Self::BadGateway(m)
            | Self::Unavailable { message: m, .. } => m,
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::PayloadTooLarge => "Request body exceeds 64 KiB",
            Self::Internal(_) => "Internal server error",
        }
    }

    pub fn into_reply(self) -> Reply {
        if let Self::Internal(detail) = &self {
            log::error!("internal error: {detail}");
        }
        let mut reply = Reply::json(
            self.status(),
            &serde_json::json!({ "error": self.message() }),
        );
        match self {
            Self::MethodNotAllowed(allow) => reply = reply.header("Allow", allow),
            Self::Unavailable {
                retry_after_secs: Some(s),
                ..
            } => reply = reply.header("Retry-After", &s.to_string()),
            // The rest of an oversized body is never read: close instead of draining it.
            Self::PayloadTooLarge => reply = reply.header("Connection", "close"),
            _ => {}
        }
        reply
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}
