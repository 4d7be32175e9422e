//! `GET /events`: registers an SSE listener and hands it to its own thread.

use std::sync::Arc;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::http::Req;
use crate::hub::SubscribeError;
use crate::router::Outcome;
use crate::session::Session;
use crate::sse::Stream;

pub fn get(_app: &Arc<App>, req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let last = req
        .header("last-event-id")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let subscription = session.hub.subscribe(last).map_err(|e| match e {
        SubscribeError::SessionFull => ApiError::Unavailable {
            message: "Too many listeners for this session".into(),
            retry_after_secs: Some(5),
        },
        SubscribeError::ServerFull => ApiError::Unavailable {
            message: "Too many listeners on this server".into(),
            retry_after_secs: Some(5),
        },
        SubscribeError::Closed => ApiError::session_ended(),
    })?;
    Ok(Outcome::Stream(Stream {
        session_id: session.id.clone(),
        subscription,
        headers: Vec::new(),
    }))
}
