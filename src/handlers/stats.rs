//! `/stats`: a key's own usage and history (GET), and GDPR erasure (DELETE).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::handlers::keys::render_time;
use crate::http::{Reply, Req};
use crate::router::Outcome;
use crate::session::{self, EndedBy, Session};
use crate::time;

pub fn get(app: &Arc<App>, _req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let key = session.api_key.expose();
    let (row, used) = app
        .db
        .key_with_usage(key, time::now_ms())?
        .ok_or_else(|| ApiError::unauthorized("API key no longer exists"))?;
    let sessions: Vec<Value> = app
        .db
        .sessions_of(key)?
        .into_iter()
        .map(|s| {
            json!({
                "sessionId": s.session_id,
                "domain": s.domain,
                "startedAt": render_time(&s.started_at),
                "endedAt": render_time(&s.ended_at),
                "durationMs": s.duration_ms,
                "captionsSent": s.captions_sent,
                "captionsFailed": s.captions_failed,
                "endedBy": s.ended_by,
            })
        })
        .collect();
    let errors: Vec<Value> = app
        .db
        .errors_of(key)?
        .into_iter()
        .map(|e| {
            json!({
                "sessionId": e.session_id,
                "error": e.error,
                "statusCode": e.status,
                "batchSize": e.batch_size,
                "occurredAt": render_time(&e.occurred_at),
            })
        })
        .collect();
    let events: Vec<Value> = app
        .db
        .events_of(key)?
        .into_iter()
        .map(|e| json!({ "event": e.event, "domain": e.domain, "occurredAt": render_time(&e.occurred_at) }))
        .collect();
    Ok(Reply::ok(&json!({
        "apiKey": session.api_key.redacted(),
        "owner": row.owner,
        "email": row.email,
        "expires": row.expires_at.as_deref().map(render_time),
        "usage": {
            "lifetimeUsed": row.lifetime_used,
            "dailyUsed": used.daily,
            "dailyLimit": row.daily_limit,
            "lifetimeLimit": row.lifetime_limit,
        },
        "sessions": sessions,
        "captionErrors": errors,
        "authEvents": events,
    }))
    .into())
}

/// Ends the key's live sessions (waiting for them, bounded, so nothing is written after
/// the erasure), then erases in one transaction.
pub fn delete(app: &Arc<App>, _req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let key = session.api_key.expose().to_string();
    let live = app.sessions.of_key(&key);
    for s in &live {
        // Before the end begins, so its drain and stats write nothing about the key.
        s.state().erased = true;
        session::begin_end(app, s, EndedBy::Erased);
    }
    let app = app.clone();
    Ok(Outcome::Defer(Box::new(move || {
        for s in &live {
            s.wait_ended(session::end_bound(&app));
        }
        match app.db.erase_key(&key, time::now_ms()) {
            Ok(_) => {
                log::info!("session {}: the key's data was erased", session.id);
                Reply::ok(
                    &json!({ "ok": true, "message": "Your usage data has been erased and your API key revoked" }),
                )
            }
            Err(e) => ApiError::from(e).into_reply(),
        }
    })))
}
