//! Sessions: ids, the live registry, per-session state (sequence, sync offset, counters,
//! activity), starting a session's delivery thread and ending a session for any reason.
//! A session's ordering belongs to its delivery thread; this file only queues for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::auth::Claims;
use crate::delivery::{self, Job};
use crate::error::{ApiError, ApiResult};
use crate::hub::Hub;
use crate::secret::{ApiKey, StreamKey, Token};

/// First 16 lowercase hex chars of SHA-256 of `apiKey:streamKey:domain`.
pub fn session_id(api_key: &ApiKey, stream_key: &StreamKey, domain: &str) -> String {
    let digest = Sha256::digest(format!(
        "{}:{}:{}",
        api_key.expose(),
        stream_key.expose(),
        domain
    ));
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Why a session ended, as written to `session_stats.ended_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Client,
    Ttl,
    Shutdown,
    Revoked,
    Erased,
}

impl EndedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Client => "client",
            EndedBy::Ttl => "ttl",
            EndedBy::Shutdown => "shutdown",
            EndedBy::Revoked => "revoked",
            EndedBy::Erased => "erased",
        }
    }
}

/// Mutable per-session facts, behind the session's own lock (never held across I/O).
#[derive(Debug)]
pub struct State {
    /// The `seq` of the next POST.
    pub sequence: u64,
    /// Bumped by `PATCH /live`, so a POST in flight does not overwrite the new value.
    pub seq_epoch: u64,
    pub sync_offset_ms: i64,
    pub last_activity: Instant,
    pub captions_sent: u64,
    pub captions_failed: u64,
    /// Set when ending begins: nothing more enters the queue.
    pub closing: bool,
    /// Set by GDPR erasure: nothing more is written about this key.
    pub erased: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum EnqueueError {
    Full,
    Closed,
}

impl From<EnqueueError> for ApiError {
    /// A full queue is `503` + `Retry-After` (nothing was counted); a closing session's
    /// token is already dead.
    fn from(e: EnqueueError) -> Self {
        match e {
            EnqueueError::Full => ApiError::Unavailable {
                message: "Caption queue is full; retry shortly".into(),
                retry_after_secs: Some(1),
            },
            EnqueueError::Closed => ApiError::session_ended(),
        }
    }
}

pub struct Session {
    pub id: String,
    pub jti: String,
    pub token: Token,
    pub api_key: ApiKey,
    pub stream_key: StreamKey,
    pub domain: String,
    pub started_at_ms: i64,
    pub hub: Hub,
    state: Mutex<State>,
    jobs: Sender<Job>,
    stop: Sender<Stop>,
    done: Receiver<()>,
    /// Set once `session_stats` is written and the hub closed (by whoever gets there first).
    finalized: AtomicBool,
}

/// Tells a delivery thread to end: why, and how long it may spend draining.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    pub by: EndedBy,
    pub drain: Duration,
}

/// What `Session::new` needs besides the app.
pub struct NewSession {
    pub id: String,
    pub jti: String,
    pub token: Token,
    pub api_key: ApiKey,
    pub stream_key: StreamKey,
    pub domain: String,
    pub sequence: u64,
    pub started_at_ms: i64,
}

impl Session {
    /// Creates the session and starts its delivery thread.
    pub fn start(app: &Arc<App>, new: NewSession) -> std::io::Result<Arc<Session>> {
        let (jobs_tx, jobs_rx) = bounded(app.config.session_queue_max);
        let (stop_tx, stop_rx) = bounded(1);
        let (done_tx, done_rx) = bounded(0);
        let session = Arc::new(Session {
            hub: Hub::new(&new.id, app.config.sse_replay_events, app.listeners.clone()),
            id: new.id,
            jti: new.jti,
            token: new.token,
            api_key: new.api_key,
            stream_key: new.stream_key,
            domain: new.domain,
            started_at_ms: new.started_at_ms,
            state: Mutex::new(State {
                sequence: new.sequence,
                seq_epoch: 0,
                sync_offset_ms: 0,
                last_activity: Instant::now(),
                captions_sent: 0,
                captions_failed: 0,
                closing: false,
                erased: false,
            }),
            jobs: jobs_tx,
            stop: stop_tx,
            done: done_rx,
            finalized: AtomicBool::new(false),
        });
        delivery::spawn(app.clone(), session.clone(), jobs_rx, stop_rx, done_tx)?;
        Ok(session)
    }

    /// The state. A poisoned lock is recovered: every update here is a few plain stores.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn touch(&self) {
        self.state().last_activity = Instant::now();
    }

    /// Queues a job behind everything accepted before it; never blocks.
    pub fn enqueue(&self, job: Job) -> Result<(), EnqueueError> {
        let state = self.state();
        if state.closing {
            return Err(EnqueueError::Closed);
        }
        // Held across try_send so `begin_close` cannot slip in between check and send.
        match self.jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(EnqueueError::Full),
            Err(TrySendError::Disconnected(_)) => Err(EnqueueError::Closed),
        }
    }

    fn begin_close(&self, stop: Stop) {
        self.state().closing = true;
        // A second end finds the slot taken and changes nothing.
        let _ = self.stop.try_send(stop);
    }

    /// The API key to write rows under, or `None` once erasure has begun.
    pub fn key_for_records(&self) -> Option<&str> {
        (!self.state().erased).then(|| self.api_key.expose())
    }

    /// True for the first caller only: that caller writes the stats and closes the hub.
    pub fn take_finalization(&self) -> bool {
        !self.finalized.swap(true, Ordering::SeqCst)
    }

    /// Waits until the delivery thread has finished (stats written, listeners closed).
    pub fn wait_ended(&self, bound: Duration) -> bool {
        matches!(
            self.done.recv_timeout(bound),
            Err(RecvTimeoutError::Disconnected)
        )
    }
}

/// Every live session, by id.
#[derive(Default)]
pub struct Registry {
    map: Mutex<HashMap<String, Arc<Session>>>,
}

pub enum Registered {
    Existing(Arc<Session>),
    Created { session: Arc<Session>, live: usize },
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        // Inserts and removes are single HashMap calls: never half-done.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live session instance a token names, touched as activity; `401` otherwise.
    pub fn authenticate(&self, claims: &Claims) -> ApiResult<Arc<Session>> {
        let session = self
            .lock()
            .get(&claims.session_id)
            .filter(|s| s.jti == claims.jti)
            .cloned()
            .ok_or_else(ApiError::session_ended)?;
        session.touch();
        Ok(session)
    }

    /// The live session with this id, or a new one from `create`.
    pub fn get_or_create(
        &self,
        id: &str,
        create: impl FnOnce() -> ApiResult<Arc<Session>>,
    ) -> ApiResult<Registered> {
        let mut map = self.lock();
        if let Some(s) = map.get(id) {
            s.touch();
            return Ok(Registered::Existing(s.clone()));
        }
        let session = create()?;
        map.insert(id.to_string(), session.clone());
        Ok(Registered::Created {
            session,
            live: map.len(),
        })
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.lock().values().cloned().collect()
    }

    /// The live sessions registered with this API key.
    pub fn of_key(&self, key: &str) -> Vec<Arc<Session>> {
        self.lock()
            .values()
            .filter(|s| s.api_key.expose() == key)
            .cloned()
            .collect()
    }

    /// Is there a live session whose domain is this origin (for preflights)?
    pub fn has_domain(&self, origin: &str) -> bool {
        self.lock()
            .values()
            .any(|s| crate::cors::same_origin(origin, &s.domain))
    }

    /// Sessions idle for at least `ttl`.
    pub fn idle(&self, ttl: Duration) -> Vec<Arc<Session>> {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|s| now.duration_since(s.state().last_activity) >= ttl)
            .cloned()
            .collect()
    }

    fn remove_instance(&self, session: &Session) {
        let mut map = self.lock();
        if map.get(&session.id).is_some_and(|s| s.jti == session.jti) {
            map.remove(&session.id);
        }
    }
}

/// Starts ending a session: its token dies now, nothing more is queued, and its delivery
/// thread drains what was accepted, writes `session_stats`, closes listeners and exits.
pub fn begin_end(app: &App, session: &Session, by: EndedBy) {
    begin_end_within(app, session, by, app.config.drain_timeout);
}

/// `begin_end` with a drain bound of its own (shutdown uses a shorter one).
pub fn begin_end_within(app: &App, session: &Session, by: EndedBy, drain: Duration) {
    app.sessions.remove_instance(session);
    session.begin_close(Stop { by, drain });
}

/// How long an ending may take: the drain plus one POST already in flight.
pub fn end_bound(app: &App) -> Duration {
    app.config.drain_timeout + app.config.ingest_timeout + Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_is_sha256_prefix() {
        let id = session_id(
            &ApiKey::new("key"),
            &StreamKey::new("stream"),
            "https://a.example",
        );
        // printf 'key:stream:https://a.example' | sha256sum | cut -c1-16
        assert_eq!(id, "17174c15978bd11d");
        assert_eq!(id.len(), 16);
    }
}
