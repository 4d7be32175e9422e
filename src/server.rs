//! The accept loop (tiny_http), a fixed pool of request workers fed by a bounded
//! channel, the waiters for deferred replies, the panic backstop, the background threads
//! (expiry sweep, revoked-key purge, accept keeper, signal watcher) and graceful shutdown.
//! With `http` and `sse`, the only code that knows tiny_http.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tiny_http::{Header, ListenAddr, Request, Response, ServerConfig};

use crate::app::App;
use crate::delivery;
use crate::error::ApiError;
use crate::http::{self, Method, Reply, Req};
use crate::router::{self, Outcome};
use crate::session::{self, EndedBy};
use crate::sse;

/// The request headers handlers read (tiny_http offers lookup by name only).
const HEADERS: &[&str] = &[
    "origin",
    "authorization",
    "content-type",
    "last-event-id",
    "x-admin-key",
    "access-control-request-method",
];

/// Serves until SIGTERM/SIGINT (then shuts down gracefully: `Ok`) or until accepting
/// fails for good (`Err` with the cause, so `main` exits non-zero).
pub fn serve(app: Arc<App>, listener: TcpListener) -> Result<(), String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Accepted sockets inherit these, so an idle or stalled client is dropped after
    // SOCKET_TIMEOUT instead of holding its connection thread forever.
    let sock = socket2::SockRef::from(&listener);
    sock.set_read_timeout(Some(app.config.socket_timeout))
        .map_err(|e| e.to_string())?;
    sock.set_write_timeout(Some(app.config.socket_timeout))
        .map_err(|e| e.to_string())?;
    spawn_accept_keeper(addr, app.config.socket_timeout).map_err(|e| e.to_string())?;
    let config = ServerConfig::new_http(addr).map_err(|e| e.to_string())?;
    let server = tiny_http::Server::from_listener(listener, ListenAddr::IP(addr), config)
        .map_err(|e| e.to_string())?;
    let server = Arc::new(server);
    let stopping = Arc::new(AtomicBool::new(false));
    spawn_signal_watcher(server.clone(), stopping.clone()).map_err(|e| e.to_string())?;

    let (jobs, queue) = bounded::<Request>(app.config.request_queue);
    let mut workers = Vec::new();
    for n in 0..app.config.workers {
        let (app, queue) = (app.clone(), queue.clone());
        let handle = std::thread::Builder::new()
            .name(format!("worker-{n}"))
            .spawn(move || worker(&app, &queue))
            .map_err(|e| e.to_string())?;
        workers.push(handle);
    }
    spawn_sweep(app.clone()).map_err(|e| e.to_string())?;
    if app.config.revoked_key_ttl_days > 0 {
        spawn_purge(app.clone()).map_err(|e| e.to_string())?;
    }
    log::info!("listening on http://{addr}");

    loop {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        match server.recv() {
            Ok(Ok(rq)) => match jobs.try_send(rq) {
                Ok(()) => {}
                Err(TrySendError::Full(rq)) | Err(TrySendError::Disconnected(rq)) => {
                    let busy = ApiError::Unavailable {
                        message: "Server busy".into(),
                        retry_after_secs: Some(1),
                    };
                    respond(rq, busy.into_reply());
                }
            },
            // tiny_http has already answered (400/408) or the client went away.
            Ok(Err(e)) => log::trace!("unreadable request: {e}"),
            Err(_) if stopping.load(Ordering::SeqCst) => break,
            Err(e) => return Err(format!("accepting connections failed: {e}")),
        }
    }
    shutdown(&app, server, jobs, workers);
    Ok(())
}

/// SIGTERM / SIGINT: stop accepting, let workers finish what they hold, end every
/// session as `DELETE /live` does (`ended_by` = `shutdown`) within a short drain, close
/// the SSE streams, checkpoint the database.
fn shutdown(
    app: &App,
    server: Arc<tiny_http::Server>,
    jobs: Sender<Request>,
    workers: Vec<JoinHandle<()>>,
) {
    log::info!("shutting down: {} live sessions", app.sessions.len());
    drop(jobs);
    for w in workers {
        let _ = w.join();
    }
    // Closes the listening socket; responses already being written still complete.
    drop(server);
    let drain = app.config.drain_timeout.min(SHUTDOWN_DRAIN);
    let sessions = app.sessions.all();
    for s in &sessions {
        session::begin_end_within(app, s, EndedBy::Shutdown, drain);
    }
    let deadline = Instant::now() + SHUTDOWN_DRAIN + Duration::from_secs(1);
    for s in &sessions {
        if !s.wait_ended(deadline.saturating_duration_since(Instant::now())) {
            // Its delivery thread is stuck in a POST: record the session's end anyway.
            log::warn!("session {} did not finish draining before shutdown", s.id);
            delivery::finalize(app, s, EndedBy::Shutdown);
        }
    }
    // Give listener threads a moment to write `session_closed` and the final chunk.
    let deadline = Instant::now() + Duration::from_millis(500);
    while app.listeners.total() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Err(e) = app.db.checkpoint() {
        log::warn!("checkpointing the database: {e}");
    }
    log::info!("shutdown complete");
}

/// How long sessions may drain on shutdown (the contract asks for a few seconds in all).
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);

fn spawn_signal_watcher(
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                log::info!("received signal {sig}");
                stopping.store(true, Ordering::SeqCst);
                let _ = server.unblock();
            }
        })?;
    Ok(())
}

fn worker(app: &Arc<App>, queue: &Receiver<Request>) {
    for rq in queue {
        // The backstop: a panic in a handler costs that request a 500, not the worker.
        let mut slot = Some(rq);
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Some(rq) = slot.take() {
                handle(app, rq);
            }
        }));
        if result.is_err() {
            log::error!("a request handler panicked");
            if let Some(rq) = slot.take() {
                respond(rq, ApiError::internal("handler panicked").into_reply());
            }
        }
    }
}

fn handle(app: &Arc<App>, mut rq: Request) {
    let method = Method::parse(rq.method().as_str());
    let url = rq.url().to_string();
    log::debug!(
        "{} {} from {}",
        rq.method(),
        http::redact_url(&url),
        http::peer(rq.remote_addr())
    );
    let headers: Vec<(String, String)> = HEADERS
        .iter()
        .filter_map(|h| {
            rq.headers()
                .get(h)
                .map(|v| (h.to_string(), v.as_str().to_string()))
        })
        .collect();
    let declared = rq.body_length();
    let body = match http::read_body(rq.as_reader(), declared) {
        Ok(b) => b,
        Err(e) => return respond(rq, e.into_reply()),
    };
    let req = Req::new(method, &url, headers, body);
    match router::route(app, &req) {
        Outcome::Reply(reply) => respond(rq, reply),
        Outcome::Defer(wait) => {
            let spawned = std::thread::Builder::new()
                .name("wait".into())
                .stack_size(128 * 1024)
                .spawn(move || {
                    let reply = catch_unwind(AssertUnwindSafe(wait)).unwrap_or_else(|_| {
                        ApiError::internal("deferred reply panicked").into_reply()
                    });
                    respond(rq, reply);
                });
            if let Err(e) = spawned {
                log::error!("could not start a waiter thread: {e}");
            }
        }
        Outcome::Stream(stream) => {
            if let Err(e) = sse::spawn(app.config.sse_ping_interval, rq.into_writer(), stream) {
                log::error!("could not start an SSE thread: {e}");
            }
            nudge_pool();
        }
    }
}

fn respond(rq: Request, reply: Reply) {
    let mut response = Response::from_data(reply.body).with_status_code(reply.status);
    let mut add = |k: &str, v: &str| match Header::from_bytes(k.as_bytes(), v.as_bytes()) {
        Ok(h) => response.add_header(h),
        Err(_) => log::debug!("dropping unrepresentable header {k}"),
    };
    let mut has_cache_control = false;
    for (k, v) in &reply.headers {
        has_cache_control |= k.eq_ignore_ascii_case("cache-control");
        add(k, v);
    }
    if !has_cache_control {
        add("Cache-Control", "no-store");
    }
    add("Vary", "Origin");
    if let Err(e) = rq.respond(response) {
        log::debug!("writing a response failed: {e}");
    }
}

/// Where `nudge_pool` connects: our own listening port, reachable from this host.
static SELF_ADDR: OnceLock<SocketAddr> = OnceLock::new();

/// An SSE stream pins one of tiny_http's connection threads for its whole life, and
/// tiny_http 0.12's thread pool can lose a wake-up when connections arrive in a burst:
/// a new connection is queued for an "idle" thread that was already claimed, and waits
/// until some thread finishes a task. With every thread pinned by a stream that can be
/// minutes (seen: 500 listeners connecting at once, one served every 10 s). An empty
/// connection of our own after each new stream makes the pool take one more task,
/// which frees the head of that queue.
fn nudge_pool() {
    if let Some(addr) = SELF_ADDR.get() {
        if let Err(e) = TcpStream::connect_timeout(addr, Duration::from_millis(200)) {
            log::debug!("nudging the connection pool failed: {e}");
        }
    }
}

/// Linux applies the listener's read timeout to `accept()` as well, and tiny_http treats
/// an accept that times out as fatal (its accept thread ends). So that a quiet spell
/// longer than SOCKET_TIMEOUT cannot stop the server, this thread connects to our own
/// port well within every timeout; the empty connection is accepted and closed at once.
fn spawn_accept_keeper(listening: SocketAddr, timeout: Duration) -> std::io::Result<()> {
    let target = match listening.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, listening.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, listening.port()))
        }
        _ => listening,
    };
    let _ = SELF_ADDR.set(target);
    let period = timeout / 3;
    std::thread::Builder::new()
        .name("accept-keeper".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            std::thread::sleep(period);
            if let Err(e) =
                TcpStream::connect_timeout(&target, period.max(Duration::from_millis(100)))
            {
                log::debug!("accept keeper could not connect: {e}");
            }
        })?;
    Ok(())
}

/// At start and every `REVOKED_KEY_CLEANUP_INTERVAL`, purges keys revoked more than
/// `REVOKED_KEY_TTL_DAYS` ago with their usage, stats, errors and events.
fn spawn_purge(app: Arc<App>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("purge".into())
        .spawn(move || loop {
            match app.db.purge_revoked(
                app.config.revoked_key_ttl_days,
                crate::time::now_ms(),
                false,
            ) {
                Ok(keys) if !keys.is_empty() => log::info!("purged {} revoked keys", keys.len()),
                Ok(_) => {}
                Err(e) => log::error!("purging revoked keys: {e}"),
            }
            std::thread::sleep(app.config.revoked_key_cleanup_interval);
        })?;
    Ok(())
}

/// Every `CLEANUP_INTERVAL`, ends the sessions idle for `SESSION_TTL`.
fn spawn_sweep(app: Arc<App>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sweep".into())
        .spawn(move || loop {
            std::thread::sleep(app.config.cleanup_interval);
            let idle = app.sessions.idle(app.config.session_ttl);
            for s in &idle {
                log::info!("session {} expired", s.id);
                session::begin_end(&app, s, EndedBy::Ttl);
            }
            for s in &idle {
                s.wait_ended(session::end_bound(&app));
            }
        })?;
    Ok(())
}
