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
        let tx = super::write_tx(&mut conn)?;
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

    /// A POST failed: one `caption_errors` row per request (unless `key` is `None`: an
    /// erased key gets no new rows), failed counters.
    pub fn captions_failed(
        &self,
        key: Option<&str>,
        domain: &str,
        errors: &[CaptionError<'_>],
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        for e in errors.iter().filter(|_| key.is_some()) {
            tx.prepare_cached(
                "INSERT INTO caption_errors (api_key, session_id, timestamp, error_code, error_msg, batch_size) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![key, e.session_id, time::iso(now_ms), e.status, e.message, e.batch_size as i64])?;
        }
        let failed = errors.iter().map(|e| e.batch_size as u64).sum();
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

    /// A session ended: its `session_stats` row (none for an erased key, `None`),
    /// `sessions_ended` and its duration.
    pub fn session_ended(&self, key: Option<&str>, s: &SessionEnd<'_>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let duration = u64::try_from(s.ended_at_ms - s.started_at_ms).unwrap_or(0);
        if let Some(key) = key {
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
        }
        let delta = HourlyDelta {
            sessions_ended: 1,
            total_duration_ms: duration,
            ..HourlyDelta::default()
        };
        bump_hourly(&tx, s.domain, s.ended_at_ms, delta)?;
        tx.commit()
    }
}

/// A completed session, for `GET /stats`.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub session_id: String,
    pub domain: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: i64,
    pub captions_sent: i64,
    pub captions_failed: i64,
    pub ended_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ErrorRow {
    pub session_id: Option<String>,
    pub error: Option<String>,
    pub status: Option<i64>,
    pub batch_size: i64,
    pub occurred_at: String,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub event: String,
    pub domain: Option<String>,
    pub occurred_at: String,
}

/// Rows `GET /stats` shows: at most this many of each, newest first.
pub const STATS_LIMIT: i64 = 100;

/// One `GET /usage` row: a day (`hour` None) or an hour of one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub domain: String,
    pub date: String,
    pub hour: Option<i64>,
    pub sessions_started: i64,
    pub sessions_ended: i64,
    pub captions_sent: i64,
    pub captions_failed: i64,
    pub batches_sent: i64,
    pub total_duration_ms: i64,
    pub peak_sessions: i64,
}

/// Deletes every row of `key` in the per-key tables (not `api_keys`).
fn delete_key_rows(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    for table in [
        "session_stats",
        "caption_errors",
        "auth_events",
        "caption_usage",
    ] {
        conn.execute(&format!("DELETE FROM {table} WHERE api_key = ?1"), [key])?;
    }
    Ok(())
}

impl Db {
    pub fn sessions_of(&self, key: &str) -> rusqlite::Result<Vec<SessionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT session_id, domain, started_at, ended_at, duration_ms, captions_sent, captions_failed, ended_by \
             FROM session_stats WHERE api_key = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, STATS_LIMIT], |r| {
            Ok(SessionRow {
                session_id: r.get(0)?,
                domain: r.get(1)?,
                started_at: r.get(2)?,
                ended_at: r.get(3)?,
                duration_ms: r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                captions_sent: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                captions_failed: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
                ended_by: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    pub fn errors_of(&self, key: &str) -> rusqlite::Result<Vec<ErrorRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT session_id, error_msg, error_code, batch_size, timestamp FROM caption_errors \
             WHERE api_key = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, STATS_LIMIT], |r| {
            Ok(ErrorRow {
                session_id: r.get(0)?,
                error: r.get(1)?,
                status: r.get(2)?,
                batch_size: r.get::<_, Option<i64>>(3)?.unwrap_or(1),
                occurred_at: r.get(4)?,
            })
        })?;
        rows.collect()
    }

    pub fn events_of(&self, key: &str) -> rusqlite::Result<Vec<EventRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT event_type, domain, timestamp FROM auth_events WHERE api_key = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![key, STATS_LIMIT], |r| {
            Ok(EventRow {
                event: r.get(0)?,
                domain: r.get(1)?,
                occurred_at: r.get(2)?,
            })
        })?;
        rows.collect()
    }

    /// GDPR erasure, in one transaction: the key's rows in every per-key table go, and
    /// the key itself is anonymised and revoked (email and expiry stay, so the same
    /// person cannot take endless free-tier keys, until the revoked key is purged).
    pub fn erase_key(&self, key: &str, now_ms: i64) -> rusqlite::Result<bool> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        delete_key_rows(&tx, key)?;
        let n = tx.execute(
            "UPDATE api_keys SET owner = '', active = 0, revoked_at = ?2 WHERE key = ?1",
            params![key, time::iso(now_ms)],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Revoked keys whose `revoked_at` is before `before_ms`.
    pub fn revoked_before(&self, before_ms: i64) -> rusqlite::Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key, revoked_at FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let all: Vec<(String, String)> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(all
            .into_iter()
            .filter(|(_, at)| time::parse_iso(at).is_some_and(|t| t < before_ms))
            .collect())
    }

    /// Revoked keys older than `days` days, purged with every row they own unless
    /// `dry_run`. Returns the keys.
    pub fn purge_revoked(
        &self,
        days: u32,
        now_ms: i64,
        dry_run: bool,
    ) -> rusqlite::Result<Vec<String>> {
        let before = now_ms - i64::from(days) * time::MS_PER_DAY;
        let keys: Vec<String> = self
            .revoked_before(before)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        if !dry_run && !keys.is_empty() {
            self.purge_keys(&keys)?;
        }
        Ok(keys)
    }

    /// Deletes keys with every row they own, in one transaction.
    pub fn purge_keys(&self, keys: &[String]) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        for key in keys {
            delete_key_rows(&tx, key)?;
            tx.execute("DELETE FROM api_keys WHERE key = ?1", [key])?;
        }
        tx.commit()
    }

    /// Hourly rows between two dates (inclusive), optionally of one domain, summed to
    /// days unless `hourly` (peaks are maxima), sorted by date, hour, domain.
    pub fn usage(
        &self,
        from: &str,
        to: &str,
        domain: Option<&str>,
        hourly: bool,
    ) -> rusqlite::Result<Vec<UsageRow>> {
        let sql = if hourly {
            "SELECT domain, date, hour, sessions_started, sessions_ended, captions_sent, captions_failed, \
             batches_sent, total_duration_ms, peak_sessions FROM domain_hourly_stats \
             WHERE date >= ?1 AND date <= ?2 AND (?3 IS NULL OR domain = ?3) ORDER BY date, hour, domain"
        } else {
            "SELECT domain, date, NULL, SUM(sessions_started), SUM(sessions_ended), SUM(captions_sent), \
             SUM(captions_failed), SUM(batches_sent), SUM(total_duration_ms), MAX(peak_sessions) \
             FROM domain_hourly_stats WHERE date >= ?1 AND date <= ?2 AND (?3 IS NULL OR domain = ?3) \
             GROUP BY date, domain ORDER BY date, domain"
        };
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![from, to, domain], |r| {
            Ok(UsageRow {
                domain: r.get(0)?,
                date: r.get(1)?,
                hour: r.get(2)?,
                sessions_started: r.get(3)?,
                sessions_ended: r.get(4)?,
                captions_sent: r.get(5)?,
                captions_failed: r.get(6)?,
                batches_sent: r.get(7)?,
                total_duration_ms: r.get(8)?,
                peak_sessions: r.get(9)?,
            })
        })?;
        rows.collect()
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
        // A session that started in one UTC hour and delivered in the next: two hourly
        // rows, one day row summing them (peak is the maximum).
        let hours = db
            .usage("1970-01-01", "1970-01-01", Some("d"), true)
            .unwrap_or_default();
        assert_eq!(
            hours.iter().map(|r| r.hour).collect::<Vec<_>>(),
            vec![Some(0), Some(1)]
        );
        let days = db
            .usage("1970-01-01", "1970-01-01", None, false)
            .unwrap_or_default();
        assert_eq!(days.len(), 1);
        assert_eq!(
            (
                days[0].sessions_started,
                days[0].captions_sent,
                days[0].peak_sessions
            ),
            (2, 7, 3)
        );
        assert_eq!(days[0].hour, None);
    }
}
