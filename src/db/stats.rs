//! `session_stats`, `caption_errors`, `auth_events` and `domain_hourly_stats`: what the
//! server records as sessions start, deliver and end.

use rusqlite::{params, Connection};

use super::Db;
use crate::time;

pub(super) fn insert_auth_event(
    conn: &Connection,
    key: &str,
    event: &str,
    domain: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO auth_events (api_key, event_type, timestamp, domain) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key, event, time::iso(now_ms), domain])?;
    Ok(())
}

/// Adds to one domain's row for the UTC hour of `now_ms`; `peak` raises `peak_sessions`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HourlyDelta {
    pub sessions_started: u64,
    pub sessions_ended: u64,
    pub captions_sent: u64,
    pub captions_failed: u64,
    pub batches_sent: u64,
    pub total_duration_ms: u64,
    pub peak: u64,
}

fn i(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn bump_hourly(
    conn: &Connection,
    domain: &str,
    now_ms: i64,
    d: HourlyDelta,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO domain_hourly_stats (date, hour, domain, sessions_started, sessions_ended, \
         captions_sent, captions_failed, batches_sent, total_duration_ms, peak_sessions) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT(date, hour, domain) DO UPDATE SET \
         sessions_started = sessions_started + excluded.sessions_started, \
         sessions_ended = sessions_ended + excluded.sessions_ended, \
         captions_sent = captions_sent + excluded.captions_sent, \
         captions_failed = captions_failed + excluded.captions_failed, \
         batches_sent = batches_sent + excluded.batches_sent, \
         total_duration_ms = total_duration_ms + excluded.total_duration_ms, \
         peak_sessions = MAX(peak_sessions, excluded.peak_sessions)",
    )?
    .execute(params![
        time::date(now_ms),
        time::hour(now_ms),
        domain,
        i(d.sessions_started),
        i(d.sessions_ended),
        i(d.captions_sent),
        i(d.captions_failed),
        i(d.batches_sent),
        i(d.total_duration_ms),
        i(d.peak),
    ])?;
    Ok(())
}

/// One failed delivery of one request, for `caption_errors`.
#[derive(Debug, Clone)]
pub struct CaptionError<'a> {
    pub session_id: &'a str,
    pub status: u16,
    pub message: &'a str,
    pub batch_size: usize,
}

/// A finished session, for `session_stats`.
#[derive(Debug, Clone)]
pub struct SessionEnd<'a> {
    pub session_id: &'a str,
    pub domain: &'a str,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub captions_sent: u64,
    pub captions_failed: u64,
    pub final_sequence: u64,
    pub ended_by: &'a str,
}

impl Db {
    pub fn auth_event(
        &self,
        key: &str,
        event: &str,
        domain: &str,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        insert_auth_event(&self.conn(), key, event, domain, now_ms)
    }

    /// A session was created: `session_start` event, `sessions_started` and the peak.
    pub fn session_started(
        &self,
        key: &str,
        domain: &str,
        live: usize,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_auth_event(&tx, key, "session_start", domain, now_ms)?;
        let delta = HourlyDelta {
            sessions_started: 1,
            peak: live as u64,
            ..HourlyDelta::default()
        };
        bump_hourly(&tx, domain, now_ms, delta)?;
        tx.commit()
    }

    /// A POST succeeded: `captions` delivered in `batches` multi-caption requests.
    pub fn captions_delivered(
        &self,
        domain: &str,
        captions: u64,
        batches: u64,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let delta = HourlyDelta {
            captions_sent: captions,
            batches_sent: batches,
            ..HourlyDelta::default()
        };
        bump_hourly(&self.conn(), domain, now_ms, delta)
    }

    /// A POST failed: one `caption_errors` row per request, failed counters.
    pub fn captions_failed(
        &self,
        key: &str,
        domain: &str,
        errors: &[CaptionError<'_>],
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut failed = 0u64;
        for e in errors {
            tx.prepare_cached(
                "INSERT INTO caption_errors (api_key, session_id, timestamp, error_code, error_msg, batch_size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![key, e.session_id, time::iso(now_ms), e.status, e.message, e.batch_size as i64])?;
            failed += e.batch_size as u64;
        }
        bump_hourly(
            &tx,
            domain,
            now_ms,
            HourlyDelta {
                captions_failed: failed,
                ..HourlyDelta::default()
            },
        )?;
        tx.commit()
    }

    /// A session ended: its `session_stats` row, `sessions_ended` and its duration.
    pub fn session_ended(&self, key: &str, s: &SessionEnd<'_>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let duration = u64::try_from(s.ended_at_ms - s.started_at_ms).unwrap_or(0);
        tx.prepare_cached(
            "INSERT INTO session_stats (session_id, api_key, domain, started_at, ended_at, duration_ms, \
             captions_sent, captions_failed, final_sequence, ended_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            s.session_id,
            key,
            s.domain,
            time::iso(s.started_at_ms),
            time::iso(s.ended_at_ms),
            i(duration),
            i(s.captions_sent),
            i(s.captions_failed),
            i(s.final_sequence),
            s.ended_by,
        ])?;
        let delta = HourlyDelta {
            sessions_ended: 1,
            total_duration_ms: duration,
            ..HourlyDelta::default()
        };
        bump_hourly(&tx, s.domain, s.ended_at_ms, delta)?;
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_rows_accumulate_and_keep_the_peak() {
        let db = Db::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let hour = 3_600_000;
        assert!(db.session_started("k", "d", 3, 10).is_ok());
        assert!(db.session_started("k", "d", 2, 20).is_ok());
        assert!(db.captions_delivered("d", 5, 1, 30).is_ok());
        assert!(db.captions_delivered("d", 2, 0, hour + 1).is_ok());
        let rows: Vec<(i64, i64, i64, i64)> = db
            .conn()
            .prepare("SELECT hour, sessions_started, captions_sent, peak_sessions FROM domain_hourly_stats ORDER BY hour")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, vec![(0, 2, 5, 3), (1, 0, 2, 0)]);
    }
}
