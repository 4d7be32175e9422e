//! `App`: everything a handler or background thread shares — config, database, session
//! registry, ingestion client, JWT keys, listener budget — plus a live-thread counter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Jwt;
use crate::config::Config;
use crate::db::Db;
use crate::hub::ListenerBudget;
use crate::ingest::Ingest;
use crate::session::Registry;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub sessions: Registry,
    pub ingest: Ingest,
    pub jwt: Jwt,
    pub listeners: Arc<ListenerBudget>,
    pub threads: ThreadCount,
    pub started: Instant,
}

impl App {
    pub fn new(config: Config, db: Db) -> Arc<App> {
        Arc::new(App {
            ingest: Ingest::new(
                &config.ingest_url,
                config.ingest_connect_timeout,
                config.ingest_timeout,
            ),
            jwt: Jwt::new(&config.jwt_secret),
            listeners: ListenerBudget::new(
                config.max_listeners_total,
                config.max_listeners_per_session,
            ),
            sessions: Registry::default(),
            threads: ThreadCount::default(),
            started: Instant::now(),
            db,
            config,
        })
    }
}

/// Threads we started for sessions and listeners that are still running.
#[derive(Debug, Default)]
pub struct ThreadCount(Arc<AtomicUsize>);

/// Decrements the count when the thread that holds it ends (panics included).
pub struct ThreadGuard(Arc<AtomicUsize>);

impl ThreadCount {
    pub fn enter(&self) -> ThreadGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        ThreadGuard(self.0.clone())
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
