//! `GET /contact`: the operator's `CONTACT_*` details, unset ones omitted.

use serde_json::{Map, Value};

use crate::app::App;
use crate::http::Reply;

pub fn get(app: &App) -> Reply {
    let c = &app.config.contact;
    let mut body = Map::new();
    for (name, value) in [
        ("name", &c.name),
        ("email", &c.email),
        ("phone", &c.phone),
        ("website", &c.website),
    ] {
        if let Some(v) = value {
            body.insert(name.into(), Value::String(v.clone()));
        }
    }
    Reply::ok(&Value::Object(body)).header("Cache-Control", "public, max-age=3600")
}
