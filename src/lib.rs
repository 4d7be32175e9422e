//! lcyt-backend: a self-hosted relay that delivers live captions to YouTube Live in
//! order and streams each result back over SSE. Modules in reading order.

// No unwrap/expect outside tests: nothing reachable from the network may panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod auth;
pub mod caption;
pub mod cli;
pub mod config;
pub mod cors;
pub mod db;
pub mod delivery;
pub mod error;
pub mod handlers;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod input;
pub mod quota;
pub mod router;
pub mod secret;
pub mod server;
pub mod session;
pub mod sse;
pub mod time;
