//! `POST /sync`: a heartbeat through the session's delivery thread (so it is ordered with
//! captions); the reply waits for it off the worker pool.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::bounded;
use serde_json::json;

use crate::app::App;
use crate::delivery::Job;
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::router::Outcome;
use crate::session::Session;

pub fn post(app: &Arc<App>, _req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let timeout = app.config.ingest_timeout;
    let (tx, rx) = bounded(1);
    session
        .enqueue(Job::Heartbeat { timeout, reply: tx })
        .map_err(ApiError::from)?;
    // Queued captions go first, each bounded by the ingest timeout; wait for a few.
    let wait = timeout * 2 + Duration::from_secs(1);
    Ok(Outcome::Defer(Box::new(move || {
        match rx.recv_timeout(wait) {
            Ok(Ok(sync)) => Reply::ok(&sync.to_json()),
            Ok(Err(cause)) => bad_gateway(&format!("Clock sync failed: {cause}")),
            Err(_) => bad_gateway("Clock sync timed out"),
        }
    })))
}

fn bad_gateway(error: &str) -> Reply {
    Reply::json(502, &json!({ "error": error, "statusCode": 502 }))
}
