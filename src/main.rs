//! Environment → `Config` (exit 2 on a bad value), logging, database, bind, serve.
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::ExitCode;

use lcyt_backend::app::App;
use lcyt_backend::config::Config;
use lcyt_backend::db::Db;
use lcyt_backend::server;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("keys") {
        let code = lcyt_backend::cli::run(&args[1..], &|k| std::env::var(k).ok());
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let config = match Config::from_lookup(&|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lcyt-backend: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_level);
    for line in config.summary() {
        log::info!("config: {line}");
    }
    if config.jwt_secret_generated {
        log::warn!(
            "JWT_SECRET is not set: using a random secret; tokens will not survive a restart"
        );
    }
    if config.admin_key.is_none() {
        log::warn!("ADMIN_KEY is not set: admin routes answer 503");
    }
    let db = match Db::open(&config.db_path) {
        Ok(db) => db,
        Err(e) => {
            log::error!("opening database {}: {e}", config.db_path.display());
            return ExitCode::from(1);
        }
    };
    let listener = match TcpListener::bind((config.host.as_str(), config.port)) {
        Ok(l) => l,
        Err(e) => {
            log::error!("binding {}:{}: {e}", config.host, config.port);
            return ExitCode::from(1);
        }
    };
    let app = App::new(config, db);
    match server::serve(app, listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Exit non-zero so a supervisor restarts us (e.g. out of file descriptors).
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(level: log::LevelFilter) {
    // Only our own crate logs: dependencies may log URLs, and ours carry the stream key.
    let config = simplelog::ConfigBuilder::new()
        .add_filter_allow_str("lcyt_backend")
        .set_time_format_rfc3339()
        .build();
    let _ = simplelog::TermLogger::init(
        level,
        config,
        simplelog::TerminalMode::Stderr,
        simplelog::ColorChoice::Never,
    );
}
