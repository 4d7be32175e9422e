//! `GET /usage`: per-domain analytics by day or hour (admin, or public with
//! `USAGE_PUBLIC`).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::http::{Reply, Req};
use crate::router::Outcome;
use crate::time;

/// Validated `from`, `to`, `granularity`, `domain`.
#[derive(Debug, PartialEq, Eq)]
pub struct Window {
    pub from: String,
    pub to: String,
    pub hourly: bool,
    pub domain: Option<String>,
}

/// Defaults: 30 days ago → today (UTC), by day.
pub fn window(req: &Req, now_ms: i64) -> ApiResult<Window> {
    let date = |name: &str, default: i64| -> ApiResult<i64> {
        match req.query(name) {
            None | Some("") => Ok(default),
            Some(v) => time::parse_date(v)
                .ok_or_else(|| ApiError::bad_request(format!("{name} must be a date YYYY-MM-DD"))),
        }
    };
    let today = now_ms - now_ms.rem_euclid(time::MS_PER_DAY);
    let from = date("from", today - 30 * time::MS_PER_DAY)?;
    let to = date("to", today)?;
    if from > to {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    let hourly = match req.query("granularity") {
        None | Some("") | Some("day") => false,
        Some("hour") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "granularity must be \"day\" or \"hour\"",
            ))
        }
    };
    let domain = req
        .query("domain")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    Ok(Window {
        from: time::date(from),
        to: time::date(to),
        hourly,
        domain,
    })
}

pub fn get(app: &Arc<App>, req: &Req) -> ApiResult<Outcome> {
    let now = time::now_ms();
    let w = window(req, now)?;
    let rows: Vec<Value> = app
        .db
        .usage(&w.from, &w.to, w.domain.as_deref(), w.hourly)?
        .into_iter()
        .map(|r| {
            let mut v = json!({
                "domain": r.domain,
                "date": r.date,
                "sessions_started": r.sessions_started,
                "sessions_ended": r.sessions_ended,
                "captions_sent": r.captions_sent,
                "captions_failed": r.captions_failed,
                "batches_sent": r.batches_sent,
                "total_duration_ms": r.total_duration_ms,
                "peak_sessions": r.peak_sessions,
            });
            if let Some(h) = r.hour {
                v["hour"] = json!(h);
            }
            v
        })
        .collect();
    let body = json!({
        "from": w.from,
        "to": w.to,
        "granularity": if w.hourly { "hour" } else { "day" },
        "public": app.config.usage_public,
        "data": rows,
    });
    let mut reply = Reply::ok(&body);
    // A window that ended before today can no longer change.
    if w.to < time::date(now) {
        reply = reply.header("Cache-Control", "public, max-age=1800");
    }
    Ok(reply.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    const NOW: i64 = 1_796_299_200_000; // 2026-12-03T12:00:00Z

    fn w(query: &str) -> ApiResult<Window> {
        window(
            &Req::new(Method::Get, &format!("/usage?{query}"), vec![], vec![]),
            NOW,
        )
    }

    #[test]
    fn defaults_and_validation() {
        assert_eq!(
            w(""),
            Ok(Window {
                from: "2026-11-03".into(),
                to: "2026-12-03".into(),
                hourly: false,
                domain: None
            })
        );
        let hourly = w("from=2026-12-01&to=2026-12-01&granularity=hour&domain=a.fi");
        assert_eq!(
            hourly.map(|w| (w.hourly, w.domain)),
            Ok((true, Some("a.fi".into())))
        );
        for bad in [
            "from=2026-13-01",
            "to=yesterday",
            "from=2026-12-02&to=2026-12-01",
            "granularity=week",
        ] {
            assert_eq!(w(bad).map_err(|e| e.status()).err(), Some(400), "{bad}");
        }
    }
}
