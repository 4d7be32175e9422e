//! Secret newtypes: API keys, stream keys, the admin key, JWTs and the JWT secret.
//! Their `Debug` prints nothing secret and they have no `Display`, so a secret can reach
//! a log line only through an explicit `expose()`.

use std::fmt;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself: for the database, the ingestion URL or a comparison — never a log.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret!(
    /// An admin-issued API key.
    ApiKey
);
secret!(
    /// A YouTube stream key (the `cid` of the ingestion URL).
    StreamKey
);
secret!(
    /// The operator's `ADMIN_KEY`.
    AdminKey
);
secret!(
    /// A session JWT as issued to the client.
    Token
);
secret!(
    /// The HS256 signing secret.
    JwtSecret
);

impl ApiKey {
    /// At most the last 4 characters in clear, for `GET /stats`.
    pub fn redacted(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let shown = if chars.len() > 8 { 4 } else { chars.len() / 4 };
        let tail: String = chars[chars.len() - shown..].iter().collect();
        format!("{}{}", "*".repeat(chars.len() - shown), tail)
    }
}

/// Constant-time equality for secrets of any length (the length itself may leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `n` random bytes from the OS, as lowercase hex.
pub fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID v4 (RFC 4122) in its hyphenated form.
pub fn uuid_v4() -> String {
    let mut b = random_bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A request id: unique in this process and not guessable from another, without a
/// system call per request (a random salt drawn once, mixed with a counter).
pub fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SALT: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let salt = *SALT.get_or_init(|| {
        let b = random_bytes(8);
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    });
    // splitmix64 of salt + counter: a bijection, so ids never repeat within a process.
    let mut z = salt.wrapping_add(
        COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if getrandom::getrandom(&mut buf).is_err() {
        // The OS RNG failing is not survivable for a server that mints secrets: no
        // request can make it happen, and continuing with predictable bytes would be worse.
        log::error!("the operating system's random number generator failed");
        std::process::abort();
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let k = ApiKey::new("super-secret-key");
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert!(!format!("{:?}", StreamKey::new("abcd-efgh")).contains("abcd"));
    }

    #[test]
    fn redaction_keeps_at_most_four_characters() {
        assert_eq!(ApiKey::new("0123456789").redacted(), "******6789");
        assert_eq!(ApiKey::new("abcd").redacted(), "***d");
        assert_eq!(ApiKey::new("ab").redacted(), "**");
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"samer"));
    }

    #[test]
    fn request_ids_are_distinct_hex() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 16 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn uuid_has_version_and_variant() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert_ne!(u, uuid_v4());
    }
}
