//! Pure UTC time: epoch milliseconds <-> civil dates, ISO 8601 parsing and the formats
//! the contract names. No clock reads here except `now_ms`; everything else is a pure fn.

use std::time::{SystemTime, UNIX_EPOCH};

pub const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A UTC instant broken into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

pub fn civil(ms: i64) -> Civil {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3_600_000) as u32,
        minute: (rem / 60_000 % 60) as u32,
        second: (rem / 1000 % 60) as u32,
        milli: (rem % 1000) as u32,
    }
}

/// `2026-12-03T12:00:00.000Z` — the form of every timestamp in a response.
pub fn iso(ms: i64) -> String {
    format!("{}Z", youtube(ms))
}

/// `2026-12-03T12:00:00.000` — YouTube's caption timestamp format (UTC, no zone).
pub fn youtube(ms: i64) -> String {
    let c = civil(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli
    )
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub fn date(ms: i64) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// The UTC hour (0–23) containing `ms`.
pub fn hour(ms: i64) -> u32 {
    civil(ms).hour
}

fn digits(s: &[u8], n: usize) -> Option<u32> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    s[..n]
        .iter()
        .try_fold(0u32, |acc, b| Some(acc * 10 + u32::from(b - b'0')))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses a `YYYY-MM-DD` date to the epoch ms of its 00:00 UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = i64::from(digits(b, 4)?);
    let m = digits(&b[5..], 2)?;
    let d = digits(&b[8..], 2)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) * MS_PER_DAY)
}

/// Parses ISO 8601 date-times: `YYYY-MM-DD[T| ]HH:MM[:SS[.fff…]][Z|±HH:MM|±HHMM|±HH]`,
/// or a bare `YYYY-MM-DD` (midnight). Without a zone the time is taken as UTC as written
/// (this also reads SQLite's `YYYY-MM-DD HH:MM:SS`). Returns epoch milliseconds;
/// fractions beyond milliseconds are truncated.
pub fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let day = parse_date(s.get(..10)?)?;
    if b.len() == 10 {
        return Some(day);
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let t = &b[11..];
    let h = digits(t, 2)?;
    if t.get(2) != Some(&b':') {
        return None;
    }
    let mi = digits(&t[3..], 2)?;
    let mut i = 5;
    let mut sec = 0;
    let mut ms = 0;
    if t.get(i) == Some(&b':') {
        sec = digits(&t[i + 1..], 2)?;
        i += 3;
        if t.get(i) == Some(&b'.') || t.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while t.get(i).is_some_and(u8::is_ascii_digit) {
                if i - start < 3 {
                    ms = ms * 10 + u32::from(t[i] - b'0');
                }
                i += 1;
            }
            let n = i - start;
            if n == 0 {
                return None;
            }
            for _ in n..3 {
                ms *= 10;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let offset_min: i64 = match &t[i..] {
        [] => 0,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let oh = digits(rest, 2)?;
            let om = match rest.get(2..) {
                Some([]) => 0,
                Some([b':', m @ ..]) if m.len() == 2 => digits(m, 2)?,
                Some(m) if m.len() == 2 => digits(m, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 60 + om);
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let local = day + i64::from(h) * 3_600_000 + i64::from(mi) * 60_000 + i64::from(sec) * 1000;
    Some(local + i64::from(ms) - offset_min * 60_000)
}

/// Adds `months` calendar months, clamping the day (Jan 31 + 1 month = Feb 28/29).
pub fn add_months(ms: i64, months: u32) -> i64 {
    let c = civil(ms);
    let total = c.year * 12 + i64::from(c.month - 1) + i64::from(months);
    let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    let d = c.day.min(days_in_month(y, m));
    days_from_civil(y, m, d) * MS_PER_DAY + ms.rem_euclid(MS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_through_civil_dates() {
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_764_763_200_123, "2025-12-03T12:00:00.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(iso(ms), want);
            assert_eq!(parse_iso(want), Some(ms), "{want}");
        }
        assert_eq!(youtube(1_764_763_200_123), "2025-12-03T12:00:00.123");
        assert_eq!(date(1_764_763_200_123), "2025-12-03");
        assert_eq!(hour(1_764_763_200_123), 12);
    }

    #[test]
    fn parses_iso_variants() {
        let base = parse_iso("2026-12-03T12:00:00.000Z");
        for s in [
            "2026-12-03T12:00:00Z",
            "2026-12-03T12:00:00",
            "2026-12-03 12:00:00",
            "2026-12-03T12:00Z",
            "2026-12-03T14:00:00+02:00",
            "2026-12-03T14:00:00+0200",
            "2026-12-03T14:00:00+02",
            "2026-12-03T07:00:00.000-05:00",
            "2026-12-03T12:00:00.000000Z",
            " 2026-12-03T12:00:00.0004Z ",
        ] {
            assert_eq!(parse_iso(s), base, "{s}");
        }
        assert_eq!(parse_iso("2026-12-03T12:00:00.5Z"), base.map(|b| b + 500));
        assert_eq!(parse_iso("2026-12-03"), parse_date("2026-12-03"));
    }

    #[test]
    fn rejects_malformed_iso() {
        for s in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30",
            "2025-02-29",
            "2026-12-03T24:00:00Z",
            "2026-12-03T12:60:00Z",
            "2026-12-03T12",
            "2026-12-03T12:00:00.Z",
            "2026-12-03T12:00:00+2",
            "2026-12-03T12:00:00 junk",
            "2026-12-03X12:00:00",
            "12/03/2026",
        ] {
            assert_eq!(parse_iso(s), None, "{s}");
        }
    }

    #[test]
    fn adds_months_with_clamping() {
        let jan31 = parse_iso("2027-01-31T10:00:00Z").unwrap_or(0);
        assert_eq!(iso(add_months(jan31, 1)), "2027-02-28T10:00:00.000Z");
        let dec = parse_iso("2026-12-03T00:00:00Z").unwrap_or(0);
        assert_eq!(iso(add_months(dec, 1)), "2027-01-03T00:00:00.000Z");
    }
}
