//! The per-session delivery thread: takes jobs from the session's queue strictly in
//! acceptance order, POSTs captions (batching what has queued up) and heartbeats to the
//! ingestion endpoint, advances the sequence on success only, records stats and publishes
//! each result. On stop it drains (bounded), writes `session_stats`, closes the hub, exits.
//!
//! Later: several targets per session would each get a `Target { stream_key, sequence,
//! queue }` and this loop would run per target; retries would wrap `post_captions`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};
use serde_json::{json, Value};

use crate::app::App;
use crate::caption::{self, Caption};
use crate::db::stats::{CaptionError, SessionEnd};
use crate::ingest::Outcome;
use crate::session::{EndedBy, Session, Stop};
use crate::time;

/// One accepted `POST /captions` request.
#[derive(Debug)]
pub struct Accepted {
    pub request_id: String,
    pub captions: Vec<Caption>,
}

/// What a session's queue carries, in order.
#[derive(Debug)]
pub enum Job {
    Captions(Accepted),
    /// An empty-body POST with the current `seq`; the result goes back on `reply`.
    Heartbeat {
        timeout: Duration,
        reply: Sender<SyncOutcome>,
    },
}

/// A heartbeat's result: the new offset, or why the endpoint could not be reached.
pub type SyncOutcome = Result<Sync, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sync {
    pub sync_offset_ms: i64,
    pub round_trip_ms: i64,
    pub server_timestamp: Option<String>,
    pub status: u16,
}

impl Sync {
    pub fn to_json(&self) -> Value {
        json!({
            "syncOffset": self.sync_offset_ms,
            "roundTripTime": self.round_trip_ms,
            "serverTimestamp": self.server_timestamp,
            "statusCode": self.status,
        })
    }
}

/// The server timestamp YouTube puts in a response body: its first non-empty line, as
/// sent, when it parses as a UTC date-time.
pub fn server_timestamp(body: &str) -> Option<(String, i64)> {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    time::parse_iso(line).map(|ms| (line.to_string(), ms))
}

/// `round(S - (t1 + t2) / 2)`, halves rounded up as JavaScript's `Math.round` does
/// (the Node.js original's offsets stay comparable).
pub fn sync_offset(server_ms: i64, t1: i64, t2: i64) -> i64 {
    (server_ms as f64 - (t1 as f64 + t2 as f64) / 2.0 + 0.5).floor() as i64
}

pub fn spawn(
    app: Arc<App>,
    session: Arc<Session>,
    jobs: Receiver<Job>,
    stop: Receiver<Stop>,
    done: Sender<()>,
) -> std::io::Result<()> {
    let name = format!("deliver-{}", session.id);
    std::thread::Builder::new().name(name).spawn(move || {
        let mut worker = Worker {
            app: app.clone(),
            session,
            jobs,
            pending: None,
            stats: DeliveredStats::default(),
        };
        let stop = worker.run(&stop);
        worker.drain(stop.drain);
        finalize(&app, &worker.session, stop.by);
        drop(done);
    })?;
    Ok(())
}

struct Worker {
    app: Arc<App>,
    session: Arc<Session>,
    jobs: Receiver<Job>,
    /// A job taken from the queue while batching that did not fit the batch.
    pending: Option<Job>,
    /// Delivered counts not yet written to `domain_hourly_stats`.
    stats: DeliveredStats,
}

/// Delivered counts of one UTC hour, written in one transaction when the queue runs
/// dry, the hour turns, or a second has passed — not once per POST.
#[derive(Default)]
struct DeliveredStats {
    /// (first delivery's time, captions, multi-caption requests); `None` when empty.
    open: Option<(i64, u64, u64)>,
}

/// The longest (ms) delivered counts wait before they are written under steady load.
const STATS_FLUSH_MS: i64 = 1000;

const MS_PER_HOUR: i64 = 3_600_000;

/// The captions of a batch, summed over its requests.
fn caption_count(batch: &[Accepted]) -> usize {
    batch.iter().map(|a| a.captions.len()).sum()
}

impl Worker {
    /// Delivers until told to stop; returns the stop.
    fn run(&mut self, stop: &Receiver<Stop>) -> Stop {
        let orphaned = Stop {
            by: EndedBy::Shutdown,
            drain: self.app.config.drain_timeout,
        };
        loop {
            if self.pending.is_none() && self.jobs.is_empty() {
                self.flush_stats();
            }
            let job = match self.pending.take() {
                Some(job) => job,
                None => select! {
                    recv(stop) -> s => return s.unwrap_or(orphaned),
                    recv(self.jobs) -> job => match job {
                        Ok(job) => job,
                        Err(_) => return orphaned,
                    },
                },
            };
            self.handle(job, self.app.config.ingest_timeout);
        }
    }

    fn handle(&mut self, job: Job, timeout: Duration) {
        match job {
            Job::Heartbeat { timeout: t, reply } => {
                let _ = reply.try_send(self.heartbeat(t.min(timeout)));
            }
            Job::Captions(first) => {
                let batch = self.gather(first);
                self.post_captions(&batch, timeout);
            }
        }
    }

    /// `first` plus every caption request already waiting, up to the batch bound; a
    /// request is never split, and a heartbeat ends the batch (it keeps its place).
    fn gather(&mut self, first: Accepted) -> Vec<Accepted> {
        let max = self.app.config.max_batch_captions;
        let mut total = first.captions.len();
        let mut batch = vec![first];
        while total < max {
            match self.jobs.try_recv() {
                Ok(Job::Captions(next)) if total + next.captions.len() <= max => {
                    total += next.captions.len();
                    batch.push(next);
                }
                Ok(other) => {
                    self.pending = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }

    fn heartbeat(&self, timeout: Duration) -> SyncOutcome {
        let s = &self.session;
        let seq = s.state().sequence;
        let t1 = time::now_ms();
        let outcome = self.app.ingest.post(&s.stream_key, seq, "", timeout);
        let t2 = time::now_ms();
        match outcome {
            Outcome::Answered { status, body } => {
                let stamp = server_timestamp(&body);
                let mut state = s.state();
                if let Some((_, server_ms)) = &stamp {
                    state.sync_offset_ms = sync_offset(*server_ms, t1, t2);
                }
                log::debug!(
                    "session {} heartbeat seq={seq} status={status} rtt={}ms",
                    s.id,
                    t2 - t1
                );
                Ok(Sync {
                    sync_offset_ms: state.sync_offset_ms,
                    round_trip_ms: t2 - t1,
                    server_timestamp: stamp.map(|(raw, _)| raw),
                    status,
                })
            }
            Outcome::Failed(cause) => {
                log::warn!("session {} heartbeat failed: {cause}", s.id);
                Err(cause)
            }
        }
    }

    fn post_captions(&mut self, batch: &[Accepted], timeout: Duration) {
        let s = &self.session;
        let (seq, epoch) = {
            let st = s.state();
            (st.sequence, st.seq_epoch)
        };
        let body = caption::ingest_body(batch.iter().flat_map(|a| &a.captions));
        let count = caption_count(batch);
        let outcome = self.app.ingest.post(&s.stream_key, seq, &body, timeout);
        match outcome {
            Outcome::Answered { status, body } if (200..300).contains(&status) => {
                {
                    let mut st = s.state();
                    if st.seq_epoch == epoch {
                        st.sequence = seq.saturating_add(1);
                    }
                    st.captions_sent = st.captions_sent.saturating_add(count as u64);
                }
                let stamp = server_timestamp(&body).map(|(raw, _)| raw);
                for a in batch {
                    let mut data = json!({
                        "requestId": a.request_id,
                        "sequence": seq,
                        "statusCode": status,
                        "serverTimestamp": stamp,
                    });
                    if a.captions.len() > 1 {
                        data["count"] = json!(a.captions.len());
                    }
                    s.hub.publish("caption_result", &data);
                }
                log::debug!(
                    "session {} delivered seq={seq} captions={count} requests={}",
                    s.id,
                    batch.len()
                );
                let multi = batch.iter().filter(|a| a.captions.len() > 1).count() as u64;
                self.count_delivered(count as u64, multi);
            }
            Outcome::Answered { status, .. } => {
                self.fail(
                    batch,
                    seq,
                    status,
                    &format!("YouTube returned status {status}"),
                );
            }
            Outcome::Failed(cause) => self.fail(batch, seq, 502, &cause),
        }
    }

    fn count_delivered(&mut self, captions: u64, multi: u64) {
        let now = time::now_ms();
        let same_hour = |at: i64| at.div_euclid(MS_PER_HOUR) == now.div_euclid(MS_PER_HOUR);
        if self.stats.open.is_some_and(|(at, _, _)| !same_hour(at)) {
            self.flush_stats();
        }
        let open = self.stats.open.get_or_insert((now, 0, 0));
        open.1 += captions;
        open.2 += multi;
        if now - open.0 >= STATS_FLUSH_MS {
            self.flush_stats();
        }
    }

    fn flush_stats(&mut self) {
        if let Some((at, captions, multi)) = self.stats.open.take() {
            if let Err(e) =
                self.app
                    .db
                    .captions_delivered(&self.session.domain, captions, multi, at)
            {
                log::error!("session {}: recording delivery: {e}", self.session.id);
            }
        }
    }

    /// Reports every request of `batch` as failed; the sequence stays where it was.
    fn fail(&self, batch: &[Accepted], seq: u64, status: u16, message: &str) {
        let s = &self.session;
        let count = caption_count(batch);
        s.state().captions_failed += count as u64;
        for a in batch {
            s.hub.publish(
                "caption_error",
                &json!({ "requestId": a.request_id, "error": message, "statusCode": status, "sequence": seq }),
            );
        }
        log::warn!(
            "session {} delivery failed seq={seq} captions={count}: {message}",
            s.id
        );
        let errors: Vec<CaptionError<'_>> = batch
            .iter()
            .map(|a| CaptionError {
                session_id: &s.id,
                status,
                message,
                batch_size: a.captions.len(),
            })
            .collect();
        let key = s.key_for_records();
        if let Err(e) = self
            .app
            .db
            .captions_failed(key, &s.domain, &errors, time::now_ms())
        {
            log::error!("session {}: recording failure: {e}", s.id);
        }
    }

    /// Delivers what is still queued until the drain deadline and reports the rest as
    /// failed.
    fn drain(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let Some(job) = self.pending.take().or_else(|| self.jobs.try_recv().ok()) else {
                break;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match job {
                Job::Heartbeat { reply, .. } => {
                    let _ = reply.try_send(Err("session ended".into()));
                }
                Job::Captions(first) if left.is_zero() => {
                    let seq = self.session.state().sequence;
                    self.fail(&[first], seq, 503, "session ended before delivery");
                }
                job => self.handle(job, left.min(self.app.config.ingest_timeout)),
            }
        }
        self.flush_stats();
    }
}

/// Writes the session's `session_stats` row and closes its listeners — once, whether
/// called by its delivery thread or by a shutdown that could not wait for it.
pub fn finalize(app: &App, s: &Session, by: EndedBy) {
    if !s.take_finalization() {
        return;
    }
    let now = time::now_ms();
    let (sent, failed, sequence) = {
        let st = s.state();
        (st.captions_sent, st.captions_failed, st.sequence)
    };
    let end = SessionEnd {
        session_id: &s.id,
        domain: &s.domain,
        started_at_ms: s.started_at_ms,
        ended_at_ms: now,
        captions_sent: sent,
        captions_failed: failed,
        final_sequence: sequence,
        ended_by: by.as_str(),
    };
    if let Err(e) = app.db.session_ended(s.key_for_records(), &end) {
        log::error!("session {}: recording its end: {e}", s.id);
    }
    s.hub.close();
    log::info!(
        "session {} ended by {} (sent {sent}, failed {failed})",
        s.id,
        by.as_str()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_timestamp_line() {
        assert_eq!(
            server_timestamp("2026-12-03T12:00:00.123\n"),
            Some(("2026-12-03T12:00:00.123".into(), 1_796_299_200_123))
        );
        assert_eq!(
            server_timestamp("\n  2026-12-03T12:00:00.123Z  \n").map(|t| t.1),
            Some(1_796_299_200_123)
        );
        assert_eq!(server_timestamp("ok"), None);
        assert_eq!(server_timestamp(""), None);
    }

    #[test]
    fn offset_is_server_minus_midpoint_rounded() {
        assert_eq!(sync_offset(1_000, 900, 1_000), 50);
        assert_eq!(sync_offset(1_000, 1_000, 1_001), 0);
        assert_eq!(sync_offset(1_000, 999, 1_000), 1);
        assert_eq!(sync_offset(0, 1_000, 1_000), -1_000);
    }
}
