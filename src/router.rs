//! Matches a request's path, then its method, to a handler; answers 404, 405 with
//! `Allow`, and preflights; applies the route's CORS class. Knows nothing of tiny_http.

use std::sync::Arc;

use crate::app::App;
use crate::auth;
use crate::cors;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{
    captions, contact, events, health, keys, live, mic, statics, stats, sync, usage,
};
use crate::http::{Method, Reply, Req};
use crate::session::Session;
use crate::sse;

/// A handler's result: a reply now, a reply that needs a wait (run off the worker
/// pool), or a new SSE stream for its own thread.
pub enum Outcome {
    Reply(Reply),
    Defer(Box<dyn FnOnce() -> Reply + Send>),
    Stream(sse::Stream),
}

impl Outcome {
    /// Adds `headers` to whatever reply this becomes.
    fn with_headers(self, headers: cors::Headers) -> Outcome {
        if headers.is_empty() {
            return self;
        }
        match self {
            Outcome::Reply(r) => Outcome::Reply(r.headers(headers)),
            Outcome::Defer(f) => Outcome::Defer(Box::new(move || f().headers(headers))),
            Outcome::Stream(mut s) => {
                s.headers.extend(headers);
                Outcome::Stream(s)
            }
        }
    }
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Reply(r)
    }
}

fn done(result: ApiResult<Outcome>) -> Outcome {
    result.unwrap_or_else(|e| Outcome::Reply(e.into_reply()))
}

/// Who may call a route, which decides its CORS headers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Any origin is echoed.
    Open,
    /// Bearer token; CORS only for the session's domain.
    Session,
    /// Admin key; never CORS.
    Admin,
    /// Public `/usage`: CORS only for `ALLOWED_DOMAINS` hosts.
    Public,
}

type SessionHandler = fn(&Arc<App>, &Req, Arc<Session>) -> ApiResult<Outcome>;

pub fn route(app: &Arc<App>, req: &Req) -> Outcome {
    let m = match req.method {
        Method::Head => Method::Get,
        m => m,
    };
    let path = req.path.as_str();
    let origin = req.origin();
    // A preflight is classed by the method it asks about (POST /live is open, the rest of /live is not).
    let asked = match m {
        Method::Options => req
            .header("access-control-request-method")
            .map_or(Method::Options, Method::parse),
        m => m,
    };
    // (allowed methods, class of this method on this path)
    let (allow, class): (&'static str, Class) = match path {
        "/health" | "/contact" => ("GET, OPTIONS", Class::Open),
        "/live" => (
            "GET, POST, PATCH, DELETE, OPTIONS",
            if asked == Method::Post {
                Class::Open
            } else {
                Class::Session
            },
        ),
        "/sync" | "/captions" | "/mic" => ("POST, OPTIONS", Class::Session),
        "/events" => ("GET, OPTIONS", Class::Session),
        "/stats" => ("GET, DELETE, OPTIONS", Class::Session),
        "/usage" => (
            "GET, OPTIONS",
            if app.config.usage_public {
                Class::Public
            } else {
                Class::Admin
            },
        ),
        "/keys" => ("GET, POST, OPTIONS", Class::Admin),
        p if p.starts_with("/keys/") && p.len() > "/keys/".len() => {
            ("GET, PATCH, DELETE, OPTIONS", Class::Admin)
        }
        _ => {
            return statics::serve(app, req)
                .unwrap_or_else(|| ApiError::NotFound("Not found".into()).into_reply())
                .into()
        }
    };
    let freetier = path == "/keys" && req.has_query("freetier");
    if m == Method::Options {
        return preflight(app, req, allow, class, freetier).into();
    }
    let open = |o: ApiResult<Outcome>| done(o).with_headers(cors::open(origin, allow));
    let session =
        |h: SessionHandler| with_session(app, req, allow, m == Method::Get && path == "/events", h);
    match (path, m) {
        ("/health", Method::Get) => open(Ok(health::get(app).into())),
        ("/contact", Method::Get) => open(Ok(contact::get(app).into())),
        ("/live", Method::Post) => open(live::post(app, req)),
        ("/live", Method::Get) => session(live::get),
        ("/live", Method::Patch) => session(live::patch),
        ("/live", Method::Delete) => session(live::delete),
        ("/sync", Method::Post) => session(sync::post),
        ("/captions", Method::Post) => session(captions::post),
        ("/events", Method::Get) => session(events::get),
        ("/mic", Method::Post) => session(mic::post),
        ("/stats", Method::Get) => session(stats::get),
        ("/stats", Method::Delete) => session(stats::delete),
        ("/usage", Method::Get) if class == Class::Public => done(usage::get(app, req))
            .with_headers(cors::for_allowed_hosts(
                origin,
                &app.config.allowed_domains,
                allow,
            )),
        ("/usage", Method::Get) => done(admin(app, req).and_then(|()| usage::get(app, req))),
        ("/keys", Method::Post) if freetier => {
            let headers = if app.config.free_apikey_active {
                cors::open(origin, allow)
            } else {
                Vec::new()
            };
            done(keys::post_freetier(app, req)).with_headers(headers)
        }
        ("/keys", Method::Post) => done(admin(app, req).and_then(|()| keys::post(app, req))),
        ("/keys", Method::Get) => done(admin(app, req).and_then(|()| keys::list(app))),
        (p, Method::Get) if class == Class::Admin => {
            done(admin(app, req).and_then(|()| keys::get(app, key_param(p))))
        }
        (p, Method::Patch) if class == Class::Admin => {
            done(admin(app, req).and_then(|()| keys::patch(app, req, key_param(p))))
        }
        (p, Method::Delete) if class == Class::Admin => {
            done(admin(app, req).and_then(|()| keys::delete(app, req, key_param(p))))
        }
        _ => ApiError::MethodNotAllowed(allow).into_reply().into(),
    }
}

fn admin(app: &App, req: &Req) -> ApiResult<()> {
    auth::require_admin(req, app.config.admin_key.as_ref())
}

/// The `:key` of `/keys/:key`, percent-decoded (`+` stays a plus in a path).
fn key_param(path: &str) -> String {
    crate::http::percent_decode(&path["/keys/".len()..], false)
}

/// Authenticates the bearer token, runs the handler, and gives the reply — success or
/// error — CORS headers when the request's origin is the session's domain.
fn with_session(
    app: &Arc<App>,
    req: &Req,
    allow: &str,
    query_token: bool,
    handler: SessionHandler,
) -> Outcome {
    let session = auth::bearer(req, query_token)
        .and_then(|tok| app.jwt.verify(tok))
        .and_then(|claims| app.sessions.authenticate(&claims));
    match session {
        Err(e) => e.into_reply().into(),
        Ok(s) => {
            let headers = cors::for_domain(req.origin(), &s.domain, allow);
            done(handler(app, req, s)).with_headers(headers)
        }
    }
}

fn preflight(app: &App, req: &Req, allow: &str, class: Class, freetier: bool) -> Reply {
    let origin = req.origin();
    let headers = match class {
        Class::Open => cors::open(origin, allow),
        Class::Session => match origin {
            Some(o) if app.sessions.has_domain(o) => cors::allow(o, allow),
            _ => Vec::new(),
        },
        Class::Admin if freetier && app.config.free_apikey_active => cors::open(origin, allow),
        Class::Admin => Vec::new(),
        Class::Public => cors::for_allowed_hosts(origin, &app.config.allowed_domains, allow),
    };
    Reply::empty(204).headers(headers)
}
