-- The six tables of the original server. IF NOT EXISTS: a database written by the
-- Node.js original already has them, and columns it lacks are added by later steps.
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL,
    owner TEXT NOT NULL,
    email TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    daily_limit INTEGER,
    lifetime_limit INTEGER,
    lifetime_used INTEGER NOT NULL DEFAULT 0,
    revoked_at TEXT
);

CREATE TABLE IF NOT EXISTS caption_usage (
    api_key TEXT NOT NULL,
    date TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (api_key, date)
);

CREATE TABLE IF NOT EXISTS session_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    api_key TEXT NOT NULL,
    domain TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    captions_sent INTEGER NOT NULL DEFAULT 0,
    captions_failed INTEGER NOT NULL DEFAULT 0,
    final_sequence INTEGER NOT NULL DEFAULT 0,
    ended_by TEXT
);

CREATE TABLE IF NOT EXISTS caption_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key TEXT NOT NULL,
    session_id TEXT,
    timestamp TEXT NOT NULL,
    error_code INTEGER,
    error_msg TEXT,
    batch_size INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS auth_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    api_key TEXT,
    event_type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    domain TEXT
);

CREATE TABLE IF NOT EXISTS domain_hourly_stats (
    date TEXT NOT NULL,
    hour INTEGER NOT NULL,
    domain TEXT NOT NULL,
    sessions_started INTEGER NOT NULL DEFAULT 0,
    sessions_ended INTEGER NOT NULL DEFAULT 0,
    captions_sent INTEGER NOT NULL DEFAULT 0,
    captions_failed INTEGER NOT NULL DEFAULT 0,
    batches_sent INTEGER NOT NULL DEFAULT 0,
    total_duration_ms INTEGER NOT NULL DEFAULT 0,
    peak_sessions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (date, hour, domain)
);
