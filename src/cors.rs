//! Pure CORS decisions (CONTRACT §8): which `Access-Control-*` headers a response gets.
//! `Vary: Origin` is added to every response by the server, not here.

pub type Headers = Vec<(String, String)>;

/// `origin` equals `domain`, ignoring one trailing `/` on either.
pub fn same_origin(origin: &str, domain: &str) -> bool {
    let strip = |s: &str| s.strip_suffix('/').unwrap_or(s).to_string();
    strip(origin) == strip(domain)
}

/// The headers that let `origin` in, with the methods of the route.
pub fn allow(origin: &str, methods: &str) -> Headers {
    vec![
        ("Access-Control-Allow-Origin".into(), origin.into()),
        ("Access-Control-Allow-Methods".into(), methods.into()),
        (
            "Access-Control-Allow-Headers".into(),
            "Content-Type, Authorization".into(),
        ),
        ("Access-Control-Allow-Credentials".into(), "true".into()),
    ]
}

/// Open routes: any origin is echoed.
pub fn open(origin: Option<&str>, methods: &str) -> Headers {
    origin.map(|o| allow(o, methods)).unwrap_or_default()
}

/// Authenticated routes: only the session's own domain.
pub fn for_domain(origin: Option<&str>, domain: &str, methods: &str) -> Headers {
    match origin {
        Some(o) if same_origin(o, domain) => allow(o, methods),
        _ => Vec::new(),
    }
}

/// The host name of an origin (`https://Lcyt.fi:8443` → `lcyt.fi`), lower-cased.
pub fn origin_host(origin: &str) -> Option<String> {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Public `/usage`: only origins whose host is in `ALLOWED_DOMAINS` (`*` = any).
pub fn for_allowed_hosts(origin: Option<&str>, allowed: &[String], methods: &str) -> Headers {
    let Some(o) = origin else { return Vec::new() };
    let ok =
        allowed.iter().any(|d| d == "*") || origin_host(o).is_some_and(|h| allowed.contains(&h));
    if ok {
        allow(o, methods)
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_domain_matching() {
        for (origin, domain, want) in [
            ("https://a.example", "https://a.example", true),
            ("https://a.example", "https://a.example/", true),
            ("https://a.example/", "https://a.example", true),
            ("https://a.example//", "https://a.example", false),
            ("https://b.example", "https://a.example", false),
            ("http://a.example", "https://a.example", false),
        ] {
            assert_eq!(same_origin(origin, domain), want, "{origin} vs {domain}");
        }
        assert!(for_domain(None, "x", "GET").is_empty());
        assert_eq!(for_domain(Some("x"), "x", "GET")[0].1, "x");
    }

    #[test]
    fn origin_hosts() {
        for (origin, want) in [
            ("https://Lcyt.fi", Some("lcyt.fi")),
            ("https://lcyt.fi:8443", Some("lcyt.fi")),
            ("http://[::1]:3000", Some("::1")),
            ("lcyt.fi", Some("lcyt.fi")),
            ("https://", None),
        ] {
            assert_eq!(origin_host(origin).as_deref(), want, "{origin}");
        }
        let allowed = vec!["lcyt.fi".to_string()];
        assert!(!for_allowed_hosts(Some("https://lcyt.fi:1"), &allowed, "GET").is_empty());
        assert!(for_allowed_hosts(Some("https://evil.fi"), &allowed, "GET").is_empty());
        assert!(!for_allowed_hosts(Some("https://evil.fi"), &["*".to_string()], "GET").is_empty());
    }
}
