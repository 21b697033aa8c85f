//! Timestamps as stored and sent: RFC 3339 in UTC with exactly three
//! fractional digits, so text order is time order and SQL can compare them
//! as strings on both SQLite and PostgreSQL.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Formats `at` as `2026-12-04T20:11:58.123Z`.
pub fn format(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// The current time in the stored format.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// Parses any RFC 3339 timestamp and returns it in the stored format, so a
/// filter such as `meta.lastModified gt "2026-01-01T00:00:00+01:00"` compares
/// correctly against stored values.
pub fn normalize(text: &str) -> Option<String> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_fixed_width_utc() {
        let at = OffsetDateTime::parse("2026-03-04T05:06:07.8+02:00", &Rfc3339).unwrap();
        assert_eq!(format(at), "2026-03-04T03:06:07.800Z");
    }

    #[test]
    fn normalize_rejects_non_rfc3339() {
        assert_eq!(normalize("yesterday"), None);
        assert_eq!(
            normalize("2026-01-01T00:00:00+01:00").as_deref(),
            Some("2025-12-31T23:00:00.000Z")
        );
    }
}
