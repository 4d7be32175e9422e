//! `lcyt-backend keys …`: the operator's key tools, on the database file directly (safe
//! while the server runs: WAL and a busy timeout) or on a remote server's `/keys` with
//! `ADMIN_KEY`. Returns an exit code: 0 done, 1 the operation failed, 2 bad usage.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::db::keys::{KeyUpdate, NewKey};
use crate::db::Db;
use crate::handlers::keys::{key_json, parse_expires, with_daily_used};
use crate::input::Nullable;
use crate::secret::uuid_v4;
use crate::time;

pub const USAGE: &str = "\
usage: lcyt-keys [--db PATH | --remote URL] [--json] COMMAND [ARGS]

Manage API keys. Works on the SQLite file at --db (default: $DB_PATH, else
./lcyt-backend.db), also while the server is running, or with --remote on a
running server's /keys API (the admin key is read from $ADMIN_KEY).

commands:
  list                                   every key, oldest first
  add --owner NAME [--key KEY] [--email EMAIL] [--expires DATE]
      [--daily N] [--lifetime N]         create a key (a random UUID if no --key)
  info KEY                               one key, with today's usage
  update KEY [--owner NAME] [--expires DATE|none] [--daily N|none]
      [--lifetime N|none]                change a key; none removes the limit/expiry
  revoke KEY                             deactivate a key (kept until purged)
  delete KEY                             delete a key and its usage rows
  renew KEY --expires DATE               give a key a new expiry date
  clean [--days N] [--dry-run]           purge keys revoked more than N days ago
                                         (default $REVOKED_KEY_TTL_DAYS, else 30)
                                         with all their rows; file only

DATE is YYYY-MM-DD (the key expires at 00:00 UTC that day) or ISO 8601.
A key revoked or deleted on the file stops working for captions at once; the
running server ends its live sessions when they next send (or on --remote, at once).
";

/// A failure of the tool: bad usage (exit 2) or a failed operation (exit 1).
#[derive(Debug)]
enum Fail {
    Usage(String),
    Op(String),
}

type CliResult<T> = Result<T, Fail>;

fn op(e: impl std::fmt::Display) -> Fail {
    Fail::Op(e.to_string())
}

/// Parsed arguments: positionals and `--flag value` / `--flag` options.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

const VALUED: &[&str] = &[
    "--db",
    "--remote",
    "--owner",
    "--key",
    "--email",
    "--expires",
    "--daily",
    "--lifetime",
    "--days",
];
const FLAGS: &[&str] = &["--json", "--dry-run", "--help", "-h"];

impl Args {
    fn parse(raw: &[String]) -> CliResult<Args> {
        let mut args = Args {
            positional: Vec::new(),
            options: Vec::new(),
        };
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            if let Some((name, value)) = a.split_once('=').filter(|(n, _)| VALUED.contains(n)) {
                args.options
                    .push((name.to_string(), Some(value.to_string())));
            } else if VALUED.contains(&a.as_str()) {
                let v = it
                    .next()
                    .ok_or_else(|| Fail::Usage(format!("{a} needs a value")))?;
                args.options.push((a.clone(), Some(v.clone())));
            } else if FLAGS.contains(&a.as_str()) {
                args.options.push((a.clone(), None));
            } else if a.starts_with("--") {
                return Err(Fail::Usage(format!("unknown option {a}")));
            } else {
                args.positional.push(a.clone());
            }
        }
        Ok(args)
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    /// Only these options may be given to this command.
    fn only(&self, allowed: &[&str]) -> CliResult<()> {
        let global = ["--db", "--remote", "--json"];
        match self
            .options
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()) && !global.contains(&n.as_str()))
        {
            Some((n, _)) => Err(Fail::Usage(format!("{n} does not apply to this command"))),
            None => Ok(()),
        }
    }

    fn key_arg(&self) -> CliResult<&str> {
        match self.positional.get(1..) {
            Some([key]) => Ok(key),
            _ => Err(Fail::Usage("this command takes exactly one KEY".into())),
        }
    }
}

fn limit(name: &str, v: &str) -> CliResult<Nullable<u64>> {
    if v.eq_ignore_ascii_case("none") {
        return Ok(Nullable::Null);
    }
    v.parse()
        .map(Nullable::Value)
        .map_err(|_| Fail::Usage(format!("{name} must be a whole number or none")))
}

fn expires(v: &str, allow_none: bool) -> CliResult<Nullable<String>> {
    if allow_none && v.eq_ignore_ascii_case("none") {
        return Ok(Nullable::Null);
    }
    parse_expires(v)
        .map(Nullable::Value)
        .map_err(|_| Fail::Usage("--expires must be YYYY-MM-DD or ISO 8601".into()))
}

fn nullable_json<T: Into<Value>>(n: Nullable<T>, body: &mut Map<String, Value>, field: &str) {
    match n {
        Nullable::Absent => {}
        Nullable::Null => {
            body.insert(field.into(), Value::Null);
        }
        Nullable::Value(v) => {
            body.insert(field.into(), v.into());
        }
    }
}

/// Runs the tool with `args` (without the program name and `keys`) and `env`.
pub fn run(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> i32 {
    let result = Args::parse(args).and_then(|a| {
        if a.flag("--help") || a.flag("-h") || a.positional.is_empty() {
            print!("{USAGE}");
            return Ok(());
        }
        dispatch(&a, env)
    });
    match result {
        Ok(()) => 0,
        Err(Fail::Usage(m)) => {
            eprintln!("lcyt-keys: {m}\n(see lcyt-keys --help)");
            2
        }
        Err(Fail::Op(m)) => {
            eprintln!("lcyt-keys: {m}");
            1
        }
    }
}

fn dispatch(a: &Args, env: &dyn Fn(&str) -> Option<String>) -> CliResult<()> {
    let store = match a.opt("--remote") {
        Some(url) => {
            let admin = env("ADMIN_KEY")
                .filter(|k| !k.is_empty())
                .ok_or_else(|| Fail::Usage("--remote needs ADMIN_KEY in the environment".into()))?;
            Store::Remote(Remote::new(url, admin))
        }
        None => {
            let path = a
                .opt("--db")
                .map(str::to_string)
                .or_else(|| env("DB_PATH"))
                .unwrap_or_else(|| "./lcyt-backend.db".into());
            let path = PathBuf::from(path);
            if !path.exists() {
                return Err(Fail::Op(format!(
                    "no database at {} (set --db or DB_PATH)",
                    path.display()
                )));
            }
            Store::Local(
                Db::open(&path)
                    .map_err(|e| Fail::Op(format!("opening {}: {e}", path.display())))?,
            )
        }
    };
    let json_out = a.flag("--json");
    let print_key = |k: &Value| {
        if json_out {
            println!("{k}");
        } else {
            print!("{}", render_key(k));
        }
    };
    let command = a.positional[0].as_str();
    match command {
        "list" => {
            a.only(&[])?;
            let keys = store.list()?;
            if json_out {
                println!("{}", json!({ "keys": keys }));
            } else {
                print!("{}", render_table(&keys));
            }
        }
        "add" => {
            a.only(&[
                "--owner",
                "--key",
                "--email",
                "--expires",
                "--daily",
                "--lifetime",
            ])?;
            let owner = a
                .opt("--owner")
                .filter(|o| !o.trim().is_empty())
                .ok_or_else(|| Fail::Usage("add needs --owner NAME".into()))?;
            let mut body = Map::new();
            body.insert("owner".into(), owner.into());
            if let Some(k) = a.opt("--key") {
                if k.is_empty() {
                    return Err(Fail::Usage("--key must not be empty".into()));
                }
                body.insert("key".into(), k.into());
            }
            if let Some(e) = a.opt("--email") {
                body.insert("email".into(), e.trim().to_lowercase().into());
            }
            if let Some(e) = a.opt("--expires") {
                nullable_json(expires(e, false)?, &mut body, "expires");
            }
            for (flag, field) in [("--daily", "daily_limit"), ("--lifetime", "lifetime_limit")] {
                if let Some(v) = a.opt(flag) {
                    nullable_json(limit(flag, v)?, &mut body, field);
                }
            }
            print_key(&store.add(&body)?);
        }
        "info" => {
            a.only(&[])?;
            print_key(&store.info(a.key_arg()?)?);
        }
        "update" | "renew" => {
            let key = a.key_arg()?;
            let mut body = Map::new();
            if command == "renew" {
                a.only(&["--expires"])?;
                let e = a
                    .opt("--expires")
                    .ok_or_else(|| Fail::Usage("renew needs --expires DATE".into()))?;
                nullable_json(expires(e, false)?, &mut body, "expires");
            } else {
                a.only(&["--owner", "--expires", "--daily", "--lifetime"])?;
                if let Some(o) = a.opt("--owner") {
                    body.insert("owner".into(), o.into());
                }
                if let Some(e) = a.opt("--expires") {
                    nullable_json(expires(e, true)?, &mut body, "expires");
                }
                for (flag, field) in [("--daily", "daily_limit"), ("--lifetime", "lifetime_limit")]
                {
                    if let Some(v) = a.opt(flag) {
                        nullable_json(limit(flag, v)?, &mut body, field);
                    }
                }
                if body.is_empty() {
                    return Err(Fail::Usage(
                        "update needs at least one of --owner, --expires, --daily, --lifetime"
                            .into(),
                    ));
                }
            }
            print_key(&store.update(key, &body)?);
        }
        "revoke" => {
            a.only(&[])?;
            let key = a.key_arg()?;
            store.revoke(key)?;
            println!("revoked {key}");
        }
        "delete" => {
            a.only(&[])?;
            let key = a.key_arg()?;
            store.delete(key)?;
            println!("deleted {key}");
        }
        "clean" => {
            a.only(&["--days", "--dry-run"])?;
            let days = match a
                .opt("--days")
                .map(str::to_string)
                .or_else(|| env("REVOKED_KEY_TTL_DAYS"))
            {
                Some(d) => d
                    .parse::<u32>()
                    .map_err(|_| Fail::Usage("--days must be a whole number".into()))?,
                None => 30,
            };
            let Store::Local(db) = &store else {
                return Err(Fail::Usage(
                    "clean works on the database file only; the server purges revoked keys itself"
                        .into(),
                ));
            };
            let dry = a.flag("--dry-run");
            let keys = db.purge_revoked(days, time::now_ms(), dry).map_err(op)?;
            let verb = if dry { "would purge" } else { "purged" };
            println!(
                "{verb} {} revoked key(s) older than {days} days",
                keys.len()
            );
            for k in keys {
                println!("  {k}");
            }
        }
        other => return Err(Fail::Usage(format!("unknown command {other:?}"))),
    }
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_table(keys: &[Value]) -> String {
    let cols = [
        ("KEY", "key"),
        ("OWNER", "owner"),
        ("ACTIVE", "active"),
        ("EXPIRES", "expires_at"),
        ("DAILY", "daily_limit"),
        ("LIFETIME", "lifetime_limit"),
        ("USED", "lifetime_used"),
    ];
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            cols.iter()
                .map(|(_, f)| match *f {
                    "active" => {
                        if k[f] == json!(1) {
                            "yes".into()
                        } else {
                            "no".into()
                        }
                    }
                    "expires_at" => k[f]
                        .as_str()
                        .map_or("-".into(), |e| e.get(..10).unwrap_or(e).to_string()),
                    _ => text(&k[f]),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(cols.iter().map(|(h, _)| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r));
    }
    if keys.is_empty() {
        out.push_str("(no keys)\n");
    }
    out
}

fn render_key(k: &Value) -> String {
    let fields = [
        "key",
        "owner",
        "email",
        "active",
        "created_at",
        "expires_at",
        "daily_limit",
        "daily_used",
        "lifetime_limit",
        "lifetime_used",
        "revoked_at",
    ];
    fields
        .iter()
        .filter(|f| k.get(**f).is_some())
        .map(|f| format!("{:<15} {}\n", format!("{f}:"), text(&k[*f])))
        .collect()
}

enum Store {
    Local(Db),
    Remote(Remote),
}

fn not_found(key: &str) -> Fail {
    Fail::Op(format!("no such key: {key}"))
}

impl Store {
    fn list(&self) -> CliResult<Vec<Value>> {
        match self {
            Store::Local(db) => Ok(db.keys().map_err(op)?.iter().map(key_json).collect()),
            Store::Remote(r) => {
                let v = r.call("GET", "/keys", None)?;
                Ok(v["keys"].as_array().cloned().unwrap_or_default())
            }
        }
    }

    fn info(&self, key: &str) -> CliResult<Value> {
        match self {
            Store::Local(db) => {
                let (row, used) = db
                    .key_with_usage(key, time::now_ms())
                    .map_err(op)?
                    .ok_or_else(|| not_found(key))?;
                Ok(with_daily_used(&row, used))
            }
            Store::Remote(r) => r.call("GET", &r.key_path(key), None),
        }
    }

    fn add(&self, body: &Map<String, Value>) -> CliResult<Value> {
        match self {
            Store::Local(db) => {
                let generated = uuid_v4();
                let key = body
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or(&generated)
                    .to_string();
                let new = NewKey {
                    key: &key,
                    owner: body
                        .get("owner")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    email: body.get("email").and_then(Value::as_str),
                    expires_at: body
                        .get("expires")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    daily_limit: body.get("daily_limit").and_then(Value::as_u64),
                    lifetime_limit: body.get("lifetime_limit").and_then(Value::as_u64),
                };
                if !db.insert_key(&new, time::now_ms()).map_err(op)? {
                    return Err(Fail::Op(format!("a key {key} already exists")));
                }
                self.info(&key)
            }
            Store::Remote(r) => r.call("POST", "/keys", Some(body)),
        }
    }

    fn update(&self, key: &str, body: &Map<String, Value>) -> CliResult<Value> {
        match self {
            Store::Local(db) => {
                let nullable = |f: &str| match body.get(f) {
                    None => Nullable::Absent,
                    Some(Value::Null) => Nullable::Null,
                    Some(v) => Nullable::Value(v.clone()),
                };
                let update = KeyUpdate {
                    owner: body.get("owner").and_then(Value::as_str),
                    expires_at: match nullable("expires") {
                        Nullable::Value(v) => Nullable::Value(text(&v)),
                        Nullable::Null => Nullable::Null,
                        Nullable::Absent => Nullable::Absent,
                    },
                    daily_limit: to_u64(nullable("daily_limit")),
                    lifetime_limit: to_u64(nullable("lifetime_limit")),
                };
                if !db.update_key(key, &update).map_err(op)? {
                    return Err(not_found(key));
                }
                self.info(key)
            }
            Store::Remote(r) => r.call("PATCH", &r.key_path(key), Some(body)),
        }
    }

    fn revoke(&self, key: &str) -> CliResult<()> {
        match self {
            Store::Local(db) => db
                .revoke_key(key, time::now_ms())
                .map_err(op)?
                .then_some(())
                .ok_or_else(|| not_found(key)),
            Store::Remote(r) => r.call("DELETE", &r.key_path(key), None).map(|_| ()),
        }
    }

    fn delete(&self, key: &str) -> CliResult<()> {
        match self {
            Store::Local(db) => db
                .delete_key(key)
                .map_err(op)?
                .then_some(())
                .ok_or_else(|| not_found(key)),
            Store::Remote(r) => r
                .call(
                    "DELETE",
                    &format!("{}?permanent=true", r.key_path(key)),
                    None,
                )
                .map(|_| ()),
        }
    }
}

fn to_u64(n: Nullable<Value>) -> Nullable<u64> {
    match n {
        Nullable::Value(v) => v.as_u64().map_or(Nullable::Absent, Nullable::Value),
        Nullable::Null => Nullable::Null,
        Nullable::Absent => Nullable::Absent,
    }
}

struct Remote {
    base: String,
    admin: String,
    agent: ureq::Agent,
}

impl Remote {
    fn new(base: &str, admin: String) -> Remote {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Remote {
            base: base.trim_end_matches('/').to_string(),
            admin,
            agent,
        }
    }

    fn key_path(&self, key: &str) -> String {
        let encoded: String = key
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("/keys/{encoded}")
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Map<String, Value>>,
    ) -> CliResult<Value> {
        let url = format!("{}{path}", self.base);
        let result = match (method, body) {
            ("GET", _) => self
                .agent
                .get(&url)
                .header("X-Admin-Key", &self.admin)
                .call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("X-Admin-Key", &self.admin)
                .call(),
            (m, b) => {
                let b = Value::Object(b.cloned().unwrap_or_default()).to_string();
                let req = if m == "PATCH" {
                    self.agent.patch(&url)
                } else {
                    self.agent.post(&url)
                };
                req.header("X-Admin-Key", &self.admin)
                    .header("Content-Type", "application/json")
                    .send(b.as_bytes())
            }
        };
        let mut resp = result.map_err(|e| Fail::Op(format!("{} unreachable: {e}", self.base)))?;
        let status = resp.status().as_u16();
        let mut text = String::new();
        let _ = resp
            .body_mut()
            .as_reader()
            .take(1 << 20)
            .read_to_string(&mut text);
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            let msg = v["error"].as_str().map_or_else(
                || format!("HTTP {status}"),
                |e| format!("{e} (HTTP {status})"),
            );
            Err(Fail::Op(msg))
        }
    }
}
