//! Pure usage-limit arithmetic, used inside the caller's transaction.

/// A key's limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub daily: Option<u64>,
    pub lifetime: Option<u64>,
}

/// What a key has used so far: today (UTC) and ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    pub daily: u64,
    pub lifetime: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Daily,
    Lifetime,
}

impl LimitHit {
    /// The contract's word, used as the error and as `auth_events.event_type`.
    pub fn word(self) -> &'static str {
        match self {
            LimitHit::Daily => "daily_limit_exceeded",
            LimitHit::Lifetime => "lifetime_limit_exceeded",
        }
    }
}

/// May `n` more captions be counted? `n = 0` asks whether the key is already at a limit
/// (as `POST /live` does). The daily limit is reported first when both are hit.
pub fn check(limits: Limits, used: Used, n: u64) -> Result<(), LimitHit> {
    let over = |limit: Option<u64>, used: u64| match limit {
        None => false,
        Some(limit) if n == 0 => used >= limit,
        Some(limit) => used.checked_add(n).is_none_or(|total| total > limit),
    };
    if over(limits.daily, used.daily) {
        return Err(LimitHit::Daily);
    }
    if over(limits.lifetime, used.lifetime) {
        return Err(LimitHit::Lifetime);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_reached_exactly() {
        let l = |d, lt| Limits {
            daily: d,
            lifetime: lt,
        };
        let u = |d, lt| Used {
            daily: d,
            lifetime: lt,
        };
        let cases = [
            (l(None, None), u(1_000_000, 1_000_000), 200, Ok(())),
            (l(Some(10), None), u(9, 9), 1, Ok(())),
            (l(Some(10), None), u(9, 9), 2, Err(LimitHit::Daily)),
            (l(Some(10), None), u(10, 10), 0, Err(LimitHit::Daily)),
            (l(Some(10), None), u(9, 9), 0, Ok(())),
            (l(None, Some(5)), u(0, 5), 1, Err(LimitHit::Lifetime)),
            (l(None, Some(5)), u(0, 3), 2, Ok(())),
            (l(Some(1), Some(1)), u(1, 1), 1, Err(LimitHit::Daily)),
            (l(Some(0), None), u(0, 0), 0, Err(LimitHit::Daily)),
            (
                l(None, Some(u64::MAX)),
                u(0, u64::MAX - 1),
                5,
                Err(LimitHit::Lifetime),
            ),
        ];
        for (limits, used, n, want) in cases {
            assert_eq!(check(limits, used, n), want, "{limits:?} {used:?} {n}");
        }
    }
}
