//! `STATIC_DIR`: files for `GET` paths no route claims. Never leaves the directory.

use std::path::{Component, Path, PathBuf};

use crate::app::App;
use crate::http::{percent_decode, Method, Reply, Req};

/// Largest file served (a static web app's assets, not downloads).
const MAX_FILE: u64 = 16 * 1024 * 1024;

pub fn serve(app: &App, req: &Req) -> Option<Reply> {
    let dir = app.config.static_dir.as_ref()?;
    if !matches!(req.method, Method::Get | Method::Head) {
        return None;
    }
    let mut path = dir.join(relative(&req.path)?);
    if path.is_dir() {
        path.push("index.html");
    }
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return None;
    }
    let body = std::fs::read(&path).ok()?;
    Some(Reply {
        status: 200,
        headers: vec![
            ("Content-Type".into(), content_type(&path).into()),
            ("Cache-Control".into(), "no-cache".into()),
        ],
        body,
    })
}

/// The request path as a relative path of plain components, or `None` if it tries to
/// climb out (`..`), is absolute after decoding, or holds a NUL.
fn relative(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path, false);
    if decoded.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_climb_out() {
        assert_eq!(relative("/a/b.js"), Some(PathBuf::from("a/b.js")));
        assert_eq!(relative("/"), Some(PathBuf::new()));
        assert_eq!(relative("/./a"), Some(PathBuf::from("a")));
        assert_eq!(relative("/../etc/passwd"), None);
        assert_eq!(relative("/a/%2e%2e/%2e%2e/x"), None);
        assert_eq!(relative("/a%00b"), None);
    }
}
