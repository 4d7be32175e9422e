//! `/live`: register a session (POST), read it (GET), set its sequence (PATCH), end it
//! (DELETE).

use std::sync::Arc;

use crossbeam_channel::bounded;
use serde_json::{json, Value};

use crate::app::App;
use crate::auth::Claims;
use crate::delivery::Job;
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::input::Fields;
use crate::quota::{self, Used};
use crate::router::Outcome;
use crate::secret::{random_hex, ApiKey, StreamKey};
use crate::session::{self, EndedBy, NewSession, Registered, Session};
use crate::time;

fn session_body(s: &Session) -> Value {
    let st = s.state();
    json!({
        "token": s.token.expose(),
        "sessionId": s.id,
        "sequence": st.sequence,
        "syncOffset": st.sync_offset_ms,
        "startedAt": time::iso(s.started_at_ms),
    })
}

pub fn post(app: &Arc<App>, req: &Req) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let f = Fields(&body);
    let api_key = ApiKey::new(f.nonempty_str("apiKey")?);
    let stream_key = StreamKey::new(f.nonempty_str("streamKey")?);
    let domain = f.nonempty_str("domain")?.to_string();
    let sequence = f.opt_u64("sequence")?.unwrap_or(0);
    let now = time::now_ms();

    let refuse = |event: &str, err: ApiError| -> ApiResult<Outcome> {
        app.db.auth_event(api_key.expose(), event, &domain, now)?;
        Err(err)
    };
    let Some((key, used)) = app.db.key_with_usage(api_key.expose(), now)? else {
        return refuse("unknown_key", ApiError::unauthorized("Unknown API key"));
    };
    if key.is_revoked() {
        return refuse(
            "revoked",
            ApiError::unauthorized("API key has been revoked"),
        );
    }
    if key.is_expired(now) {
        return refuse("expired", ApiError::unauthorized("API key has expired"));
    }
    if let Err(hit) = quota::check(
        key.limits(),
        Used {
            daily: used.daily,
            lifetime: key.lifetime_used,
        },
        0,
    ) {
        return refuse(hit.word(), ApiError::TooManyRequests(hit.word().into()));
    }

    let id = session::session_id(&api_key, &stream_key, &domain);
    let registered = app.sessions.get_or_create(&id, || {
        let jti = random_hex(16);
        let claims = Claims {
            session_id: id.clone(),
            jti: jti.clone(),
            iat: now / 1000,
        };
        let token = app.jwt.issue(&claims)?;
        let new = NewSession {
            id: id.clone(),
            jti,
            token,
            api_key: api_key.clone(),
            stream_key: stream_key.clone(),
            domain: domain.clone(),
            sequence,
            started_at_ms: now,
        };
        Session::start(app, new).map_err(|e| {
            log::error!("starting delivery thread: {e}");
            ApiError::unavailable("Server is at capacity; try again later")
        })
    })?;
    let (session, live) = match registered {
        Registered::Existing(s) => return Ok(Reply::ok(&session_body(&s)).into()),
        Registered::Created { session, live } => (session, live),
    };
    log::info!("session {} started ({live} live)", session.id);
    if let Err(e) = app.db.session_started(api_key.expose(), &domain, live, now) {
        log::error!("session {}: recording its start: {e}", session.id);
    }
    // One best-effort clock sync, ordered before any caption; on failure the offset stays 0.
    let wait = app.config.register_sync_timeout;
    let (tx, rx) = bounded(1);
    if session
        .enqueue(Job::Heartbeat {
            timeout: wait,
            reply: tx,
        })
        .is_err()
    {
        return Ok(Reply::ok(&session_body(&session)).into());
    }
    Ok(Outcome::Defer(Box::new(move || {
        let _ = rx.recv_timeout(wait + std::time::Duration::from_millis(250));
        Reply::ok(&session_body(&session))
    })))
}

pub fn get(_app: &Arc<App>, _req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let st = session.state();
    Ok(Reply::ok(&json!({ "sequence": st.sequence, "syncOffset": st.sync_offset_ms })).into())
}

pub fn patch(_app: &Arc<App>, req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let sequence = Fields(&body).opt_u64("sequence")?;
    let mut st = session.state();
    if let Some(n) = sequence {
        st.sequence = n;
        st.seq_epoch += 1;
    }
    Ok(Reply::ok(&json!({ "sequence": st.sequence })).into())
}

pub fn delete(app: &Arc<App>, _req: &Req, session: Arc<Session>) -> ApiResult<Outcome> {
    session::begin_end(app, &session, EndedBy::Client);
    let bound = session::end_bound(app);
    Ok(Outcome::Defer(Box::new(move || {
        if !session.wait_ended(bound) {
            log::warn!(
                "session {} did not finish ending within {bound:?}",
                session.id
            );
        }
        Reply::ok(&json!({ "removed": true, "sessionId": session.id }))
    })))
}
