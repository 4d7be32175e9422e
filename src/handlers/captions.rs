//! `POST /captions`: validate, resolve timestamps, count against the key's limits and
//! queue for the session's delivery thread — all before `202`.

use std::sync::Arc;

use serde_json::json;

use crate::app::App;
use crate::caption::{self, Clock};
use crate::db::keys::Counted;
use crate::delivery::{Accepted, Job};
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::router::Outcome;
use crate::secret::request_id;
use crate::session::Session;
use crate::time;

pub fn post(app: &Arc<App>, req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let now_ms = time::now_ms();
    let clock = Clock {
        now_ms,
        sync_offset_ms: session.state().sync_offset_ms,
        started_at_ms: session.started_at_ms,
    };
    let captions = caption::parse_request(&body, clock)?;
    let count = captions.len() as u64;
    let request_id = request_id();
    let job = Job::Captions(Accepted {
        request_id: request_id.clone(),
        captions,
    });
    let counted = app.db.count_captions(
        session.api_key.expose(),
        &session.domain,
        count,
        now_ms,
        || session.enqueue(job),
    )?;
    match counted {
        Counted::Done => {
            Ok(Reply::json(202, &json!({ "ok": true, "requestId": request_id })).into())
        }
        Counted::Limit(hit) => Err(ApiError::TooManyRequests(hit.word().into())),
        Counted::KeyGone => Err(ApiError::unauthorized("API key no longer exists")),
        Counted::Revoked => Err(ApiError::unauthorized("API key has been revoked")),
        Counted::Refused(e) => Err(e.into()),
    }
}
