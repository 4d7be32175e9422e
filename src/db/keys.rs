//! `api_keys` and `caption_usage`: key rows, and counting captions against limits.

use rusqlite::{params, Connection, OptionalExtension};

use super::Db;
use crate::input::Nullable;
use crate::quota::{self, LimitHit, Limits, Used};
use crate::time;

/// An `api_keys` row as stored (timestamps as written, which may be SQLite's form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub key: String,
    pub owner: String,
    pub email: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub active: bool,
    pub daily_limit: Option<u64>,
    pub lifetime_limit: Option<u64>,
    pub lifetime_used: u64,
    pub revoked_at: Option<String>,
}

impl KeyRow {
    pub fn limits(&self) -> Limits {
        Limits {
            daily: self.daily_limit,
            lifetime: self.lifetime_limit,
        }
    }

    /// Expired once `now >= expires_at`; an unparseable expiry counts as expired.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at
            .as_deref()
            .is_some_and(|e| time::parse_iso(e).is_none_or(|at| now_ms >= at))
    }

    pub fn is_revoked(&self) -> bool {
        !self.active || self.revoked_at.is_some()
    }
}

/// A new key to insert.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub key: &'a str,
    pub owner: &'a str,
    pub email: Option<&'a str>,
    pub expires_at: Option<String>,
    pub daily_limit: Option<u64>,
    pub lifetime_limit: Option<u64>,
}

const KEY_COLUMNS: &str = "key, owner, email, created_at, expires_at, active, daily_limit, \
                           lifetime_limit, lifetime_used, revoked_at";

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.map(|n| u64::try_from(n).unwrap_or(0))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row_to_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key: r.get(0)?,
        owner: r.get(1)?,
        email: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        active: r.get::<_, Option<i64>>(5)?.unwrap_or(1) != 0,
        daily_limit: to_u64(r.get(6)?),
        lifetime_limit: to_u64(r.get(7)?),
        lifetime_used: to_u64(r.get(8)?).unwrap_or(0),
        revoked_at: r.get(9)?,
    })
}

fn get_key(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyRow>> {
    conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE key = ?1"
    ))?
    .query_row([key], row_to_key)
    .optional()
}

fn daily_used(conn: &Connection, key: &str, date: &str) -> rusqlite::Result<u64> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT count FROM caption_usage WHERE api_key = ?1 AND date = ?2")?
        .query_row([key, date], |r| r.get(0))
        .optional()?;
    Ok(to_u64(n).unwrap_or(0))
}

/// The outcome of counting a request's captions.
#[derive(Debug, PartialEq, Eq)]
pub enum Counted<E> {
    /// Counted and handed on.
    Done,
    /// Over a limit: nothing counted, an `auth_events` row written.
    Limit(LimitHit),
    /// The key no longer exists.
    KeyGone,
    /// The key was revoked (e.g. by an admin script) while the session lived.
    Revoked,
    /// `hand_on` refused (e.g. a full queue): nothing counted.
    Refused(E),
}

impl Db {
    /// Inserts a key; `Ok(false)` if the key already exists.
    pub fn insert_key(&self, new: &NewKey<'_>, now_ms: i64) -> rusqlite::Result<bool> {
        let conn = self.conn();
        let inserted = conn
            .prepare_cached(
                "INSERT INTO api_keys (key, owner, email, created_at, expires_at, active, \
                 daily_limit, lifetime_limit, lifetime_used) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, 0) ON CONFLICT(key) DO NOTHING",
            )?
            .execute(params![
                new.key,
                new.owner,
                new.email,
                time::iso(now_ms),
                new.expires_at,
                new.daily_limit.map(to_i64),
                new.lifetime_limit.map(to_i64),
            ])?;
        Ok(inserted == 1)
    }

    pub fn key(&self, key: &str) -> rusqlite::Result<Option<KeyRow>> {
        get_key(&self.conn(), key)
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> rusqlite::Result<Vec<KeyRow>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id"))?;
        let rows = stmt.query_map([], row_to_key)?;
        rows.collect()
    }

    /// A key with its usage today (UTC).
    pub fn key_with_usage(
        &self,
        key: &str,
        now_ms: i64,
    ) -> rusqlite::Result<Option<(KeyRow, Used)>> {
        let conn = self.conn();
        let Some(row) = get_key(&conn, key)? else {
            return Ok(None);
        };
        let daily = daily_used(&conn, key, &time::date(now_ms))?;
        let used = Used {
            daily,
            lifetime: row.lifetime_used,
        };
        Ok(Some((row, used)))
    }

    /// Counts `n` captions against `key` in one transaction: checks both limits, and if
    /// they allow it increments the daily and lifetime counts and calls `hand_on` (which
    /// must not block) before committing. If `hand_on` fails, nothing is counted.
    pub fn count_captions<E>(
        &self,
        key: &str,
        domain: &str,
        n: u64,
        now_ms: i64,
        hand_on: impl FnOnce() -> Result<(), E>,
    ) -> rusqlite::Result<Counted<E>> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        let date = time::date(now_ms);
        let Some(row) = get_key(&tx, key)? else {
            return Ok(Counted::KeyGone);
        };
        if row.is_revoked() {
            return Ok(Counted::Revoked);
        }
        let used = Used {
            daily: daily_used(&tx, key, &date)?,
            lifetime: row.lifetime_used,
        };
        if let Err(hit) = quota::check(row.limits(), used, n) {
            super::stats::insert_auth_event(&tx, key, hit.word(), domain, now_ms)?;
            tx.commit()?;
            return Ok(Counted::Limit(hit));
        }
        tx.prepare_cached(
            "INSERT INTO caption_usage (api_key, date, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT(api_key, date) DO UPDATE SET count = count + excluded.count",
        )?
        .execute(params![key, date, to_i64(n)])?;
        tx.prepare_cached("UPDATE api_keys SET lifetime_used = lifetime_used + ?2 WHERE key = ?1")?
            .execute(params![key, to_i64(n)])?;
        if let Err(e) = hand_on() {
            // Dropping the transaction rolls the increments back.
            return Ok(Counted::Refused(e));
        }
        tx.commit()?;
        Ok(Counted::Done)
    }
}

/// A `PATCH /keys/:key`: each field absent, cleared (`Null`) or set.
#[derive(Debug, Clone)]
pub struct KeyUpdate<'a> {
    pub owner: Option<&'a str>,
    pub expires_at: Nullable<String>,
    pub daily_limit: Nullable<u64>,
    pub lifetime_limit: Nullable<u64>,
}

impl Db {
    /// Applies an update; `Ok(false)` if there is no such key.
    pub fn update_key(&self, key: &str, u: &KeyUpdate<'_>) -> rusqlite::Result<bool> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        if get_key(&tx, key)?.is_none() {
            return Ok(false);
        }
        if let Some(owner) = u.owner {
            tx.execute(
                "UPDATE api_keys SET owner = ?2 WHERE key = ?1",
                params![key, owner],
            )?;
        }
        let set = |column: &str, value: Option<rusqlite::types::Value>| {
            tx.execute(
                &format!("UPDATE api_keys SET {column} = ?2 WHERE key = ?1"),
                params![key, value],
            )
        };
        let int = |n: u64| Some(rusqlite::types::Value::Integer(to_i64(n)));
        match &u.expires_at {
            Nullable::Absent => 0,
            Nullable::Null => set("expires_at", None)?,
            Nullable::Value(e) => set("expires_at", Some(rusqlite::types::Value::Text(e.clone())))?,
        };
        for (column, value) in [
            ("daily_limit", &u.daily_limit),
            ("lifetime_limit", &u.lifetime_limit),
        ] {
            match value {
                Nullable::Absent => 0,
                Nullable::Null => set(column, None)?,
                Nullable::Value(n) => set(column, int(*n))?,
            };
        }
        tx.commit()?;
        Ok(true)
    }

    /// Revokes a key (`active` 0, `revoked_at` now); `Ok(false)` if unknown.
    pub fn revoke_key(&self, key: &str, now_ms: i64) -> rusqlite::Result<bool> {
        let n = self.conn().execute(
            "UPDATE api_keys SET active = 0, revoked_at = COALESCE(revoked_at, ?2) WHERE key = ?1",
            params![key, time::iso(now_ms)],
        )?;
        Ok(n == 1)
    }

    /// Deletes a key and its usage rows; `Ok(false)` if unknown.
    pub fn delete_key(&self, key: &str) -> rusqlite::Result<bool> {
        let mut conn = self.conn();
        let tx = super::write_tx(&mut conn)?;
        tx.execute("DELETE FROM caption_usage WHERE api_key = ?1", [key])?;
        let n = tx.execute("DELETE FROM api_keys WHERE key = ?1", [key])?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Has a key been issued to this (already normalised) email?
    pub fn email_has_key(&self, email: &str) -> rusqlite::Result<bool> {
        self.conn()
            .prepare_cached("SELECT 1 FROM api_keys WHERE lower(trim(email)) = ?1 LIMIT 1")?
            .query_row([email], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with_key(daily: Option<u64>, lifetime: Option<u64>) -> Db {
        let db = Db::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let new = NewKey {
            key: "k1",
            owner: "Owner",
            email: None,
            expires_at: None,
            daily_limit: daily,
            lifetime_limit: lifetime,
        };
        assert_eq!(db.insert_key(&new, 0), Ok(true));
        assert_eq!(db.insert_key(&new, 0), Ok(false));
        db
    }

    #[test]
    fn counts_until_the_limit_and_refusal_counts_nothing() {
        let db = db_with_key(Some(5), None);
        let ok = || Ok::<(), ()>(());
        assert_eq!(db.count_captions("k1", "d", 3, 0, ok), Ok(Counted::Done));
        assert_eq!(
            db.count_captions("k1", "d", 1, 0, || Err("full")),
            Ok(Counted::Refused("full"))
        );
        assert_eq!(
            db.count_captions("k1", "d", 3, 0, ok),
            Ok(Counted::Limit(LimitHit::Daily))
        );
        assert_eq!(db.count_captions("k1", "d", 2, 0, ok), Ok(Counted::Done));
        // The next UTC day starts a new daily count.
        assert_eq!(
            db.count_captions("k1", "d", 5, time::MS_PER_DAY, ok),
            Ok(Counted::Done)
        );
        let (row, used) = db
            .key_with_usage("k1", 0)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("key"));
        assert_eq!((row.lifetime_used, used.daily), (10, 5));
        assert_eq!(
            db.count_captions("nope", "d", 1, 0, ok),
            Ok(Counted::KeyGone)
        );
    }

    #[test]
    fn expiry_and_revocation() {
        let mut row = db_with_key(None, None)
            .key("k1")
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("key"));
        assert!(!row.is_expired(0) && !row.is_revoked());
        row.expires_at = Some("1970-01-01T00:00:01.000Z".into());
        assert!(!row.is_expired(999));
        assert!(row.is_expired(1000));
        row.expires_at = Some("garbage".into());
        assert!(row.is_expired(0));
        row.active = false;
        assert!(row.is_revoked());
    }
}
