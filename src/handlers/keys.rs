//! `/keys` and `/keys/:key` (admin), and `POST /keys?freetier` (self-service).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::db::keys::{KeyRow, KeyUpdate, NewKey};
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::input::{Fields, Nullable};
use crate::quota::Used;
use crate::router::Outcome;
use crate::secret::uuid_v4;
use crate::session::{self, EndedBy};
use crate::time;

/// A stored timestamp in the API's ISO form; SQLite's `YYYY-MM-DD HH:MM:SS` included.
pub fn render_time(stored: &str) -> String {
    time::parse_iso(stored).map_or_else(|| stored.to_string(), time::iso)
}

pub fn key_json(k: &KeyRow) -> Value {
    json!({
        "key": k.key,
        "owner": k.owner,
        "email": k.email,
        "active": i32::from(k.active),
        "created_at": render_time(&k.created_at),
        "expires_at": k.expires_at.as_deref().map(render_time),
        "daily_limit": k.daily_limit,
        "lifetime_limit": k.lifetime_limit,
        "lifetime_used": k.lifetime_used,
        "revoked_at": k.revoked_at.as_deref().map(render_time),
    })
}

/// `YYYY-MM-DD` (00:00 UTC that day) or a full ISO 8601 date-time, stored in ISO form.
pub fn parse_expires(s: &str) -> ApiResult<String> {
    time::parse_iso(s)
        .map(time::iso)
        .ok_or_else(|| ApiError::bad_request("expires must be YYYY-MM-DD or an ISO 8601 date-time"))
}

fn stored(app: &App, key: &str, status: u16) -> ApiResult<Outcome> {
    let now = time::now_ms();
    let (row, used) = app
        .db
        .key_with_usage(key, now)?
        .ok_or_else(|| ApiError::internal("a key written a moment ago is gone"))?;
    Ok(Reply::json(status, &with_daily_used(&row, used)).into())
}

/// The key object with `daily_used`, as `GET /keys/:key` shows it.
pub fn with_daily_used(row: &KeyRow, used: Used) -> Value {
    let mut v = key_json(row);
    v["daily_used"] = json!(used.daily);
    v
}

pub fn post(app: &Arc<App>, req: &Req) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let f = Fields(&body);
    let owner = f.nonempty_str("owner")?;
    let generated;
    let key = match f.opt_nonempty_str("key")? {
        Some(k) => k,
        None => {
            generated = uuid_v4();
            &generated
        }
    };
    let new = NewKey {
        key,
        owner,
        email: None,
        expires_at: f.opt_str("expires")?.map(parse_expires).transpose()?,
        daily_limit: f.opt_u64("daily_limit")?,
        lifetime_limit: f.opt_u64("lifetime_limit")?,
    };
    if !app.db.insert_key(&new, time::now_ms())? {
        return Err(ApiError::Conflict(
            "An API key with that value already exists".into(),
        ));
    }
    log::info!("api key created for owner {owner:?}");
    stored(app, key, 201)
}

pub fn list(app: &Arc<App>) -> ApiResult<Outcome> {
    let keys: Vec<Value> = app.db.keys()?.iter().map(key_json).collect();
    Ok(Reply::ok(&json!({ "keys": keys })).into())
}

pub fn get(app: &Arc<App>, key: String) -> ApiResult<Outcome> {
    match app.db.key_with_usage(&key, time::now_ms())? {
        Some((row, used)) => Ok(Reply::ok(&with_daily_used(&row, used)).into()),
        None => Err(ApiError::NotFound("API key not found".into())),
    }
}

pub fn patch(app: &Arc<App>, req: &Req, key: String) -> ApiResult<Outcome> {
    let body = req.json_object()?;
    let f = Fields(&body);
    let update = KeyUpdate {
        owner: f.opt_nonempty_str("owner")?,
        expires_at: match f.nullable_str("expires")? {
            Nullable::Value(s) => Nullable::Value(parse_expires(s)?),
            Nullable::Null => Nullable::Null,
            Nullable::Absent => Nullable::Absent,
        },
        daily_limit: f.nullable_u64("daily_limit")?,
        lifetime_limit: f.nullable_u64("lifetime_limit")?,
    };
    if !app.db.update_key(&key, &update)? {
        return Err(ApiError::NotFound("API key not found".into()));
    }
    stored(app, &key, 200)
}

/// Revokes (or with `?permanent=true` deletes) a key and ends its live sessions at once.
pub fn delete(app: &Arc<App>, req: &Req, key: String) -> ApiResult<Outcome> {
    let permanent = req.query("permanent") == Some("true");
    let found = if permanent {
        app.db.delete_key(&key)?
    } else {
        app.db.revoke_key(&key, time::now_ms())?
    };
    if !found {
        return Err(ApiError::NotFound("API key not found".into()));
    }
    let ended = end_sessions_of_key(app, &key, EndedBy::Revoked);
    log::info!(
        "api key {} ({ended} live sessions ended)",
        if permanent { "deleted" } else { "revoked" }
    );
    let body = if permanent {
        json!({ "key": key, "deleted": true })
    } else {
        json!({ "key": key, "revoked": true })
    };
    Ok(Reply::ok(&body).into())
}

/// Ends every live session of `key` now (tokens die at once; draining continues in the
/// background). Returns how many.
pub fn end_sessions_of_key(app: &App, key: &str, by: EndedBy) -> usize {
    let sessions = app.sessions.of_key(key);
    for s in &sessions {
        session::begin_end(app, s, by);
    }
    sessions.len()
}

/// `{name, email}` → a key with the free tier's limits, one per email.
pub fn post_freetier(app: &Arc<App>, req: &Req) -> ApiResult<Outcome> {
    if !app.config.free_apikey_active {
        return Err(ApiError::unavailable(
            "Free-tier keys are not available on this server",
        ));
    }
    let body = req.json_object()?;
    let f = Fields(&body);
    let name = f.nonempty_str("name")?.trim();
    if name.chars().count() > 200 {
        return Err(ApiError::bad_request("name must be at most 200 characters"));
    }
    let email = f.nonempty_str("email")?.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::bad_request("email must be a valid email address"));
    }
    if app.db.email_has_key(&email)? {
        return Err(ApiError::Conflict(
            "A key has already been issued to this email".into(),
        ));
    }
    let now = time::now_ms();
    let key = uuid_v4();
    let new = NewKey {
        key: &key,
        owner: name,
        email: Some(&email),
        expires_at: Some(time::iso(time::add_months(now, 1))),
        daily_limit: Some(200),
        lifetime_limit: Some(1000),
    };
    if !app.db.insert_key(&new, now)? {
        return Err(ApiError::internal("a fresh random key collided"));
    }
    log::info!("free-tier key issued");
    stored(app, &key, 201)
}

/// One `@`, no white space, a non-empty local part and a domain containing a dot.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_rules() {
        for (e, ok) in [
            ("a@b.fi", true),
            ("first.last@sub.example.org", true),
            ("a@b", false),
            ("@b.fi", false),
            ("a@@b.fi", false),
            ("a@b@c.fi", false),
            ("a b@c.fi", false),
            ("a@.fi", false),
            ("a@b.", false),
            ("plain", false),
        ] {
            assert_eq!(valid_email(e), ok, "{e}");
        }
    }

    #[test]
    fn stored_times_render_as_iso() {
        assert_eq!(
            render_time("2024-01-02 03:04:05"),
            "2024-01-02T03:04:05.000Z"
        );
        assert_eq!(
            render_time("2024-01-02T03:04:05.120Z"),
            "2024-01-02T03:04:05.120Z"
        );
        assert_eq!(
            parse_expires("2027-01-01").ok().as_deref(),
            Some("2027-01-01T00:00:00.000Z")
        );
        assert!(parse_expires("next year").is_err());
    }
}
