//! Times as the formats write them (RFC 3339, Unix seconds) and as users read them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-01-02T03:04:05Z`, for messages.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => format!("{secs} s after 1970"),
    }
}

/// Parses an RFC 3339 time (`2021-01-12T11:53:27.000Z`).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let secs = u64::try_from(dt.timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Unix seconds to a time (negative times do not occur in these formats; absurd ones, which
/// would overflow the clock, are `None` rather than a panic).
pub fn from_unix(secs: i64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}
