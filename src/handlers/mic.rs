//! `POST /mic`: the advisory mic lock of a session, broadcast as `mic_state`.

use std::sync::Arc;

use serde_json::json;

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::input::Fields;
use crate::router::Outcome;
use crate::session::Session;

pub fn post(_app: &Arc<App>, req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let f = Fields(&body);
    let claim = match f.nonempty_str("action") {
        Ok("claim") => true,
        Ok("release") => false,
        _ => {
            return Err(ApiError::bad_request(
                "action must be \"claim\" or \"release\"",
            ))
        }
    };
    let client_id = f.nonempty_str("clientId")?;
    let holder = session.hub.mic(claim, client_id);
    Ok(Reply::ok(&json!({ "ok": true, "holder": holder })).into())
}
