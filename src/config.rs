//! Typed, validated configuration read once from the environment. Every knob has its
//! default next to it; a malformed value is a `ConfigError` (main exits 2). Owns no I/O
//! beyond the summary it logs, where secrets appear only as set/unset.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::{random_hex, AdminKey, JwtSecret};

#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST`, default `0.0.0.0`.
    pub host: String,
    /// `PORT`, default 3000 (0 picks a free port; the bound address is logged).
    pub port: u16,
    /// `DB_PATH`, default `./lcyt-backend.db`.
    pub db_path: PathBuf,
    /// `JWT_SECRET`; random when unset (tokens then die with the process).
    pub jwt_secret: JwtSecret,
    pub jwt_secret_generated: bool,
    /// `ADMIN_KEY`; unset disables admin routes (503).
    pub admin_key: Option<AdminKey>,
    /// `SESSION_TTL` ms of inactivity before a session is ended, default 2 h.
    pub session_ttl: Duration,
    /// `CLEANUP_INTERVAL` ms between expiry sweeps, default 5 min.
    pub cleanup_interval: Duration,
    /// `REVOKED_KEY_TTL_DAYS`, default 30; 0 disables the purge.
    pub revoked_key_ttl_days: u32,
    /// `REVOKED_KEY_CLEANUP_INTERVAL` ms, default 24 h.
    pub revoked_key_cleanup_interval: Duration,
    /// `ALLOWED_DOMAINS`, default `lcyt.fi,www.lcyt.fi` (`*` = any).
    pub allowed_domains: Vec<String>,
    /// `USAGE_PUBLIC`: set to anything makes `GET /usage` public.
    pub usage_public: bool,
    /// `STATIC_DIR`: serve this directory's files for unmatched `GET` paths.
    pub static_dir: Option<PathBuf>,
    /// `FREE_APIKEY_ACTIVE=1` enables `POST /keys?freetier`.
    pub free_apikey_active: bool,
    pub contact: Contact,
    /// `YOUTUBE_INGEST_URL`, default `http://upload.youtube.com/closedcaption`.
    pub ingest_url: String,
    /// `LOG_LEVEL`, default `info`.
    pub log_level: log::LevelFilter,
    /// `WORKERS`: request worker threads, default 4.
    pub workers: usize,
    /// `REQUEST_QUEUE`: requests waiting for a worker before `503`, default 256.
    pub request_queue: usize,
    /// `SESSION_QUEUE_MAX`: caption requests waiting per session before `503`, default 64.
    pub session_queue_max: usize,
    /// `MAX_BATCH_CAPTIONS`: captions one ingestion POST may carry, default 200
    /// (a single request is never split, so one request of 200 always fits).
    pub max_batch_captions: usize,
    /// `MAX_LISTENERS_PER_SESSION`, default 256.
    pub max_listeners_per_session: usize,
    /// `MAX_LISTENERS`: SSE streams on the whole server, default 2048.
    pub max_listeners_total: usize,
    /// `SSE_REPLAY_EVENTS`: events kept per session for `Last-Event-ID`, default 64.
    pub sse_replay_events: usize,
    /// `SSE_PING_INTERVAL`: ms between `: ping` comments, default 15000 (contract: ≤ 20 s).
    pub sse_ping_interval: Duration,
    /// `INGEST_CONNECT_TIMEOUT`: ms, default 5000.
    pub ingest_connect_timeout: Duration,
    /// `INGEST_TIMEOUT`: ms for a whole ingestion POST, default 10000.
    pub ingest_timeout: Duration,
    /// `REGISTER_SYNC_TIMEOUT`: ms `POST /live` waits for its first clock sync, default 2000.
    pub register_sync_timeout: Duration,
    /// `DRAIN_TIMEOUT`: ms an ending session may spend delivering what it accepted, default 5000.
    pub drain_timeout: Duration,
    /// `SOCKET_TIMEOUT`: ms a client connection may sit idle (read or write), default 30000.
    pub socket_timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.var, self.message)
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable's value, with an empty value treated as unset.
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn number<T: std::str::FromStr>(
        &self,
        var: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| ConfigError {
                var,
                message: format!("expected a non-negative whole number, got {v:?}"),
            }),
        }
    }

    fn positive(&self, var: &'static str, default: usize) -> Result<usize, ConfigError> {
        let n = self.number(var, default)?;
        if n == 0 {
            return Err(ConfigError {
                var,
                message: "must be at least 1".into(),
            });
        }
        Ok(n)
    }

    fn millis(&self, var: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        let ms = self.number(var, default_ms)?;
        if ms == 0 {
            return Err(ConfigError {
                var,
                message: "must be at least 1 ms".into(),
            });
        }
        Ok(Duration::from_millis(ms))
    }
}

impl Config {
    /// Reads the configuration through `lookup` (the process environment in `main`).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(lookup);
        let log_level = match env.get("LOG_LEVEL").map(|v| v.trim().to_ascii_lowercase()) {
            None => log::LevelFilter::Info,
            Some(v) => match v.as_str() {
                "error" => log::LevelFilter::Error,
                "warn" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                "trace" => log::LevelFilter::Trace,
                _ => {
                    return Err(ConfigError {
                        var: "LOG_LEVEL",
                        message: format!("expected error, warn, info, debug or trace, got {v:?}"),
                    })
                }
            },
        };
        let ingest_url = env
            .get("YOUTUBE_INGEST_URL")
            .unwrap_or_else(|| "http://upload.youtube.com/closedcaption".into());
        if !(ingest_url.starts_with("http://") || ingest_url.starts_with("https://")) {
            return Err(ConfigError {
                var: "YOUTUBE_INGEST_URL",
                message: "must start with http:// or https://".into(),
            });
        }
        let (jwt_secret, jwt_secret_generated) = match env.get("JWT_SECRET") {
            Some(s) => (JwtSecret::new(s), false),
            None => (JwtSecret::new(random_hex(32)), true),
        };
        let allowed_domains = env
            .get("ALLOWED_DOMAINS")
            .unwrap_or_else(|| "lcyt.fi,www.lcyt.fi".into())
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        let sse_ping_interval = env.millis("SSE_PING_INTERVAL", 15_000)?;
        if sse_ping_interval > Duration::from_secs(20) {
            return Err(ConfigError {
                var: "SSE_PING_INTERVAL",
                message: "must be at most 20000 ms".into(),
            });
        }
        Ok(Config {
            host: env.get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: env.number("PORT", 3000)?,
            db_path: PathBuf::from(
                env.get("DB_PATH")
                    .unwrap_or_else(|| "./lcyt-backend.db".into()),
            ),
            jwt_secret,
            jwt_secret_generated,
            admin_key: env.get("ADMIN_KEY").map(AdminKey::new),
            session_ttl: env.millis("SESSION_TTL", 7_200_000)?,
            cleanup_interval: env.millis("CLEANUP_INTERVAL", 300_000)?,
            revoked_key_ttl_days: env.number("REVOKED_KEY_TTL_DAYS", 30)?,
            revoked_key_cleanup_interval: env.millis("REVOKED_KEY_CLEANUP_INTERVAL", 86_400_000)?,
            allowed_domains,
            usage_public: (lookup)("USAGE_PUBLIC").is_some(),
            static_dir: env.get("STATIC_DIR").map(PathBuf::from),
            free_apikey_active: env.get("FREE_APIKEY_ACTIVE").as_deref().map(str::trim)
                == Some("1"),
            contact: Contact {
                name: env.get("CONTACT_NAME"),
                email: env.get("CONTACT_EMAIL"),
                phone: env.get("CONTACT_PHONE"),
                website: env.get("CONTACT_WEBSITE"),
            },
            ingest_url,
            log_level,
            workers: env.positive("WORKERS", 4)?,
            request_queue: env.positive("REQUEST_QUEUE", 256)?,
            session_queue_max: env.positive("SESSION_QUEUE_MAX", 64)?,
            max_batch_captions: env.positive("MAX_BATCH_CAPTIONS", 200)?,
            max_listeners_per_session: env.positive("MAX_LISTENERS_PER_SESSION", 256)?,
            max_listeners_total: env.positive("MAX_LISTENERS", 2048)?,
            sse_replay_events: env.positive("SSE_REPLAY_EVENTS", 64)?,
            sse_ping_interval,
            ingest_connect_timeout: env.millis("INGEST_CONNECT_TIMEOUT", 5000)?,
            ingest_timeout: env.millis("INGEST_TIMEOUT", 10_000)?,
            register_sync_timeout: env.millis("REGISTER_SYNC_TIMEOUT", 2000)?,
            drain_timeout: env.millis("DRAIN_TIMEOUT", 5000)?,
            socket_timeout: env.millis("SOCKET_TIMEOUT", 30_000)?,
        })
    }

    /// The startup summary, one line per setting; secrets only as set/unset.
    pub fn summary(&self) -> Vec<String> {
        let set = |b: bool| if b { "set" } else { "unset" };
        let ms = |d: Duration| d.as_millis();
        vec![
            format!("HOST={} PORT={}", self.host, self.port),
            format!("DB_PATH={}", self.db_path.display()),
            format!(
                "JWT_SECRET={}",
                if self.jwt_secret_generated { "generated" } else { "set" }
            ),
            format!("ADMIN_KEY={}", set(self.admin_key.is_some())),
            format!(
                "SESSION_TTL={} CLEANUP_INTERVAL={}",
                ms(self.session_ttl),
                ms(self.cleanup_interval)
            ),
            format!(
                "REVOKED_KEY_TTL_DAYS={} REVOKED_KEY_CLEANUP_INTERVAL={}",
                self.revoked_key_ttl_days,
                ms(self.revoked_key_cleanup_interval)
            ),
            format!(
                "ALLOWED_DOMAINS={} USAGE_PUBLIC={}",
                self.allowed_domains.join(","),
                set(self.usage_public)
            ),
            format!(
                "STATIC_DIR={} FREE_APIKEY_ACTIVE={}",
                self.static_dir
                    .as_ref()
                    .map_or_else(|| "unset".into(), |p| p.display().to_string()),
                set(self.free_apikey_active)
            ),
            format!("YOUTUBE_INGEST_URL={}", redact_url(&self.ingest_url)),
            format!(
                "WORKERS={} REQUEST_QUEUE={} SESSION_QUEUE_MAX={} MAX_BATCH_CAPTIONS={}",
                self.workers, self.request_queue, self.session_queue_max, self.max_batch_captions
            ),
            format!(
                "MAX_LISTENERS_PER_SESSION={} MAX_LISTENERS={} SSE_REPLAY_EVENTS={} SSE_PING_INTERVAL={}",
                self.max_listeners_per_session,
                self.max_listeners_total,
                self.sse_replay_events,
                ms(self.sse_ping_interval)
            ),
            format!(
                "INGEST_CONNECT_TIMEOUT={} INGEST_TIMEOUT={} REGISTER_SYNC_TIMEOUT={} DRAIN_TIMEOUT={} SOCKET_TIMEOUT={}",
                ms(self.ingest_connect_timeout),
                ms(self.ingest_timeout),
                ms(self.register_sync_timeout),
                ms(self.drain_timeout),
                ms(self.socket_timeout)
            ),
        ]
    }
}

/// The URL without its query string (a configured URL could carry credentials there).
fn redact_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = load(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.port, 3000);
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.db_path, PathBuf::from("./lcyt-backend.db"));
        assert_eq!(c.session_ttl, Duration::from_millis(7_200_000));
        assert_eq!(c.cleanup_interval, Duration::from_millis(300_000));
        assert_eq!(c.revoked_key_ttl_days, 30);
        assert_eq!(c.allowed_domains, vec!["lcyt.fi", "www.lcyt.fi"]);
        assert_eq!(c.ingest_url, "http://upload.youtube.com/closedcaption");
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert!(c.jwt_secret_generated && c.admin_key.is_none());
        assert!(!c.usage_public && !c.free_apikey_active);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("SESSION_TTL", "-5"),
            ("LOG_LEVEL", "loud"),
            ("WORKERS", "0"),
            ("YOUTUBE_INGEST_URL", "ftp://x"),
            ("SSE_PING_INTERVAL", "30000"),
        ] {
            let err = load(&[(var, value)]).err();
            assert_eq!(err.map(|e| e.var), Some(var), "{var}={value}");
        }
    }

    #[test]
    fn summary_never_shows_secrets() {
        let c = load(&[("ADMIN_KEY", "adm1n-s3cret"), ("JWT_SECRET", "jwt-s3cret")])
            .unwrap_or_else(|e| panic!("{e}"));
        let all = c.summary().join("\n");
        assert!(all.contains("ADMIN_KEY=set"));
        assert!(!all.contains("s3cret"));
    }
}
