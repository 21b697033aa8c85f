//! Conversions between stored timestamp text and `OffsetDateTime`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Formats a time as stored and sent.
pub(crate) fn stored_time(at: OffsetDateTime) -> String {
    lockgate_domain::timestamp::format(at)
}
