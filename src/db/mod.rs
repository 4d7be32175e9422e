//! `Db`: the one SQLite connection behind a mutex, its pragmas and additive migrations.
//! The only code that knows SQL lives under `db/`. Never hold the lock across network
//! I/O or a blocking channel operation.

pub mod keys;
pub mod stats;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

/// Schema steps, applied in order, each idempotent. Append only; never remove a step.
const STEPS: &[&str] = &[
    include_str!("../../sql/schema/0001_tables.sql"),
    include_str!("../../sql/schema/0002_indexes.sql"),
];

pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> rusqlite::Result<Db> {
        Self::init(Connection::open(path)?)
    }

    pub fn open_in_memory() -> rusqlite::Result<Db> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Db> {
        // WAL lets the admin scripts read and write while the server runs; NORMAL
        // synchronous keeps SD-card writes low: a power cut can lose the last
        // transactions but never corrupts the file. The busy timeout makes a second
        // writer wait instead of failing.
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&conn)?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }

    /// The connection. A poisoned lock is recovered: a panic inside a transaction
    /// dropped the `Transaction`, which rolled it back, so the connection is consistent.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the WAL back into the main file (on shutdown, so the file is whole on its own).
    pub fn checkpoint(&self) -> rusqlite::Result<()> {
        self.conn()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
    }

    /// One trivial query that reaches our schema, for `/health`.
    pub fn ping(&self) -> rusqlite::Result<()> {
        self.conn()
            .query_row("SELECT 1 FROM api_keys LIMIT 1", [], |_| Ok(()))
            .optional()
            .map(|_| ())
    }
}

/// A transaction that takes SQLite's write lock at `BEGIN`. A deferred transaction that
/// reads first and then writes while another process (an admin script) holds the lock
/// gets `SQLITE_BUSY` at once, without the busy timeout; taking the lock up front waits.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Applies every step, then adds any column our schema has and the file lacks (a
/// database written by the Node.js original has no `revoked_at`, for one).
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(STEPS[0])?;
    add_missing_columns(conn)?;
    for step in &STEPS[1..] {
        conn.execute_batch(step)?;
    }
    conn.pragma_update(None, "user_version", STEPS.len() as i64)
}

struct Column {
    name: String,
    decl_type: String,
    not_null: bool,
    default: Option<String>,
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<Column>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let rows = stmt.query_map([], |r| {
        Ok(Column {
            name: r.get(1)?,
            decl_type: r.get(2)?,
            not_null: r.get::<_, i64>(3)? != 0,
            default: r.get(4)?,
        })
    })?;
    rows.collect()
}

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    // The reference schema is our own step 1 applied to an empty database.
    let reference = Connection::open_in_memory()?;
    reference.execute_batch(STEPS[0])?;
    let tables: Vec<String> = reference
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in tables {
        let have: Vec<String> = columns(conn, &table)?.into_iter().map(|c| c.name).collect();
        for col in columns(&reference, &table)? {
            if have.iter().any(|h| h.eq_ignore_ascii_case(&col.name)) {
                continue;
            }
            let mut sql = format!(
                "ALTER TABLE {table} ADD COLUMN {} {}",
                col.name, col.decl_type
            );
            match (&col.default, col.not_null) {
                (Some(d), true) => sql.push_str(&format!(" NOT NULL DEFAULT {d}")),
                (Some(d), false) => sql.push_str(&format!(" DEFAULT {d}")),
                // NOT NULL without a default cannot be added to existing rows.
                (None, _) => {}
            }
            log::info!("migrating: adding {table}.{}", col.name);
            conn.execute_batch(&sql)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent() {
        let db = Db::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let conn = db.conn();
        migrate(&conn).unwrap_or_else(|e| panic!("{e}"));
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap_or_default();
        assert_eq!(version, STEPS.len() as i64);
    }

    #[test]
    fn adds_columns_an_old_database_lacks() {
        let conn = Connection::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "CREATE TABLE api_keys (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,
             owner TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT, active INTEGER NOT NULL DEFAULT 1);
             INSERT INTO api_keys (key, owner, created_at) VALUES ('k', 'o', '2024-01-02 03:04:05');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        migrate(&conn).unwrap_or_else(|e| panic!("{e}"));
        let (used, revoked): (i64, Option<String>) = conn
            .query_row(
                "SELECT lifetime_used, revoked_at FROM api_keys WHERE key = 'k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((used, revoked), (0, None));
    }
}
