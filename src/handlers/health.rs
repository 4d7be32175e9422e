//! `GET /health`: uptime, live sessions, and one trivial database query.

use serde_json::json;

use crate::app::App;
use crate::http::Reply;

pub fn get(app: &App) -> Reply {
    match app.db.ping() {
        Ok(()) => Reply::ok(&json!({
            "ok": true,
            "uptime": app.started.elapsed().as_secs_f64(),
            "activeSessions": app.sessions.len(),
        })),
        Err(e) => {
            log::error!("health check: database: {e}");
            Reply::json(
                503,
                &json!({ "ok": false, "error": "Database unavailable" }),
            )
        }
    }
}
