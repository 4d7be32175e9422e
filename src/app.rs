//! `App`: everything a handler or background thread shares — config, database, session
//! registry, ingestion client, JWT keys and the listener budget.

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
            started: Instant::now(),
            db,
            config,
        })
    }
}
