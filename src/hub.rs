//! A session's SSE fan-out: event ids, the replay ring for `Last-Event-ID`, the mic
//! holder, and one bounded channel per listener. Formats each frame once; never blocks
//! on a listener (a full or closed one is dropped at once).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use serde_json::{json, Value};

/// Frames a listener may have waiting before it is considered too slow and dropped.
const LISTENER_BACKLOG: usize = 64;

/// One SSE frame, formatted once and shared by every listener.
pub type Frame = Arc<str>;

/// Listener counts shared by every hub: the server-wide cap.
#[derive(Debug)]
pub struct ListenerBudget {
    pub max_total: usize,
    pub max_per_session: usize,
    total: AtomicUsize,
}

impl ListenerBudget {
    pub fn new(max_total: usize, max_per_session: usize) -> Arc<ListenerBudget> {
        Arc::new(ListenerBudget {
            max_total,
            max_per_session,
            total: AtomicUsize::new(0),
        })
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SubscribeError {
    SessionFull,
    ServerFull,
    Closed,
}

/// Held by a listener's thread; releases its places in both caps when dropped.
pub struct ListenerGuard {
    budget: Arc<ListenerBudget>,
    session_count: Arc<AtomicUsize>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.budget.total.fetch_sub(1, Ordering::SeqCst);
        self.session_count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a new listener gets: the frames to write first (`connected`, then replay) and
/// its channel for everything after. The channel disconnecting means "close".
pub struct Subscription {
    pub first: Vec<Frame>,
    pub frames: Receiver<Frame>,
    pub guard: ListenerGuard,
    pub number: u64,
}

struct Inner {
    next_id: u64,
    ring: VecDeque<(u64, Frame)>,
    listeners: Vec<Sender<Frame>>,
    mic_holder: Option<String>,
    closed: bool,
    subscribed: u64,
}

pub struct Hub {
    session_id: String,
    replay: usize,
    budget: Arc<ListenerBudget>,
    count: Arc<AtomicUsize>,
    inner: Mutex<Inner>,
}

pub fn frame(id: u64, event: &str, data: &Value) -> Frame {
    Arc::from(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

impl Hub {
    pub fn new(session_id: &str, replay: usize, budget: Arc<ListenerBudget>) -> Hub {
        Hub {
            session_id: session_id.to_string(),
            replay,
            budget,
            count: Arc::new(AtomicUsize::new(0)),
            inner: Mutex::new(Inner {
                next_id: 1,
                ring: VecDeque::new(),
                listeners: Vec::new(),
                mic_holder: None,
                closed: false,
                subscribed: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing in a critical section here can leave Inner half-updated.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends an event to every listener and keeps it for replay.
    pub fn publish(&self, event: &str, data: &Value) {
        let mut inner = self.lock();
        Self::publish_locked(&mut inner, self.replay, event, data);
    }

    fn publish_locked(inner: &mut Inner, replay: usize, event: &str, data: &Value) {
        if inner.closed {
            return;
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let f = frame(id, event, data);
        if inner.ring.len() == replay {
            inner.ring.pop_front();
        }
        inner.ring.push_back((id, f.clone()));
        inner.listeners.retain(|tx| match tx.try_send(f.clone()) {
            Ok(()) => true,
            // Too slow to keep up, or gone: drop it; its thread sees the disconnect and ends.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Registers a listener. `last_event_id` (from a reconnect) selects the replay.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Result<Subscription, SubscribeError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(SubscribeError::Closed);
        }
        if self.count.load(Ordering::SeqCst) >= self.budget.max_per_session {
            return Err(SubscribeError::SessionFull);
        }
        if self.budget.total.fetch_add(1, Ordering::SeqCst) >= self.budget.max_total {
            self.budget.total.fetch_sub(1, Ordering::SeqCst);
            return Err(SubscribeError::ServerFull);
        }
        self.count.fetch_add(1, Ordering::SeqCst);
        let guard = ListenerGuard {
            budget: self.budget.clone(),
            session_count: self.count.clone(),
        };
        let id = inner.next_id;
        inner.next_id += 1;
        let connected = json!({ "sessionId": self.session_id, "micHolder": inner.mic_holder });
        let mut first = vec![frame(id, "connected", &connected)];
        if let Some(last) = last_event_id {
            first.extend(
                inner
                    .ring
                    .iter()
                    .filter(|(n, _)| *n > last)
                    .map(|(_, f)| f.clone()),
            );
        }
        let (tx, rx) = bounded(LISTENER_BACKLOG);
        inner.listeners.push(tx);
        inner.subscribed += 1;
        Ok(Subscription {
            first,
            frames: rx,
            guard,
            number: inner.subscribed,
        })
    }

    /// Applies a mic claim or release and broadcasts `mic_state`; returns the holder.
    pub fn mic(&self, claim: bool, client_id: &str) -> Option<String> {
        let mut inner = self.lock();
        if claim {
            inner.mic_holder = Some(client_id.to_string());
        } else if inner.mic_holder.as_deref() == Some(client_id) {
            inner.mic_holder = None;
        }
        let holder = inner.mic_holder.clone();
        Self::publish_locked(
            &mut inner,
            self.replay,
            "mic_state",
            &json!({ "holder": holder }),
        );
        holder
    }

    /// Sends `session_closed` and disconnects every listener; later subscribes fail.
    pub fn close(&self) {
        let mut inner = self.lock();
        Self::publish_locked(&mut inner, self.replay, "session_closed", &json!({}));
        inner.closed = true;
        inner.listeners.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(replay: usize, per_session: usize, total: usize) -> Hub {
        Hub::new("s1", replay, ListenerBudget::new(total, per_session))
    }

    #[test]
    fn frames_have_increasing_ids_and_reach_listeners() {
        let h = hub(8, 4, 8);
        let sub = h.subscribe(None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            &*sub.first[0],
            "id: 1\nevent: connected\ndata: {\"micHolder\":null,\"sessionId\":\"s1\"}\n\n"
        );
        h.publish("caption_result", &json!({"requestId": "r"}));
        assert_eq!(
            sub.frames.try_recv().ok().as_deref(),
            Some("id: 2\nevent: caption_result\ndata: {\"requestId\":\"r\"}\n\n")
        );
    }

    #[test]
    fn replay_sends_only_what_was_missed_within_the_ring() {
        let h = hub(3, 4, 8);
        for n in 0..5 {
            h.publish("e", &json!(n));
        }
        // ids 1..=5 published; the ring holds 3, 4, 5.
        let sub = h.subscribe(Some(3)).unwrap_or_else(|e| panic!("{e:?}"));
        let ids: Vec<&str> = sub
            .first
            .iter()
            .map(|f| f.lines().next().unwrap_or(""))
            .collect();
        assert_eq!(ids, vec!["id: 6", "id: 4", "id: 5"]);
        let none = h.subscribe(None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(none.first.len(), 1);
    }

    #[test]
    fn caps_count_live_listeners_only() {
        let budget = ListenerBudget::new(3, 2);
        let h = Hub::new("s1", 8, budget.clone());
        let a = h.subscribe(None);
        let _b = h.subscribe(None);
        assert_eq!(h.subscribe(None).err(), Some(SubscribeError::SessionFull));
        drop(a);
        let _c = h.subscribe(None);
        assert!(_c.is_ok());
        // Two live here; a second session may take the one place left on the server.
        let other = Hub::new("s2", 8, budget.clone());
        let _d = other.subscribe(None);
        assert!(_d.is_ok());
        assert_eq!(
            other.subscribe(None).err(),
            Some(SubscribeError::ServerFull)
        );
        assert_eq!(budget.total(), 3);
    }

    #[test]
    fn close_sends_session_closed_then_disconnects() {
        let h = hub(8, 2, 3);
        let sub = h.subscribe(None).unwrap_or_else(|e| panic!("{e:?}"));
        h.close();
        let last = sub.frames.try_recv().ok();
        assert!(last
            .as_deref()
            .is_some_and(|f| f.contains("event: session_closed")));
        assert!(sub.frames.recv().is_err());
        assert_eq!(h.subscribe(None).err(), Some(SubscribeError::Closed));
    }

    #[test]
    fn a_listener_that_falls_behind_is_dropped() {
        let h = hub(8, 2, 3);
        let sub = h.subscribe(None).unwrap_or_else(|e| panic!("{e:?}"));
        for n in 0..=LISTENER_BACKLOG {
            h.publish("e", &json!(n));
        }
        let mut got = 0;
        while sub.frames.recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, LISTENER_BACKLOG);
    }

    #[test]
    fn mic_release_only_by_holder() {
        let h = hub(8, 2, 3);
        assert_eq!(h.mic(true, "a"), Some("a".into()));
        assert_eq!(h.mic(false, "b"), Some("a".into()));
        assert_eq!(h.mic(true, "b"), Some("b".into()));
        assert_eq!(h.mic(false, "b"), None);
    }
}
