//! The JSON form of an access policy, as admins write it and as each
//! version is stored. Times are `HH:MM` text and weekdays three-letter
//! names, so a policy reads the way a facility manager thinks of it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, Weekday};

use super::model::{BankId, GroupId, LockerKind, PolicyId, ZoneId};
use super::policy::{
    AccessPolicy, AssignmentMode, AttributeCondition, LeaverAction, Lifecycle, What, Who,
};
use super::window::{MINUTES_PER_DAY, TimeWindow, WeekdaySet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// A label for people; the policy id is in the URL.
    #[serde(default)]
    pub name: String,
    pub who: WhoDocument,
    #[serde(default)]
    pub what: WhatDocument,
    pub how: HowDocument,
    #[serde(default = "default_quota")]
    pub quota: u32,
    #[serde(default)]
    pub when: Vec<WindowDocument>,
    #[serde(default)]
    pub lifecycle: LifecycleDocument,
    /// Entra authentication context an app open must satisfy, such as `c1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_open_auth_context: Option<String>,
}

fn default_quota() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoDocument {
    /// Group ids as the identity provider knows them (Entra object ids,
    /// sent as the SCIM group's `externalId`), or Lockgate group ids.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<AttributeDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDocument {
    pub name: String,
    pub equals: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatDocument {
    #[serde(default)]
    pub banks: Vec<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<LockerKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum HowDocument {
    Fixed {
        #[serde(default = "yes")]
        auto_assign: bool,
    },
    Flex {
        max_booking_hours: u32,
    },
    Shared,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowDocument {
    /// Three-letter English weekday names, such as `["mon", "tue"]`.
    pub days: Vec<String>,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM`; `24:00` is midnight at the end of the day.
    pub end: String,
    /// Offset of local time from UTC, such as `+01:00`.
    #[serde(default = "utc")]
    pub utc_offset: String,
}

fn utc() -> String {
    "+00:00".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleDocument {
    #[serde(default = "default_grace")]
    pub mover_grace_days: u32,
    #[serde(default = "default_leaver_action")]
    pub leaver_action: LeaverActionDocument,
}

impl Default for LifecycleDocument {
    fn default() -> Self {
        LifecycleDocument {
            mover_grace_days: default_grace(),
            leaver_action: default_leaver_action(),
        }
    }
}

fn default_grace() -> u32 {
    7
}

fn default_leaver_action() -> LeaverActionDocument {
    LeaverActionDocument::ClearOut
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaverActionDocument {
    ClearOut,
    Release,
}

/// A policy document field that cannot become a policy. The message names
/// the field, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocumentError(pub String);

impl PolicyDocument {
    /// Builds and checks the policy this document describes.
    pub fn to_policy(&self, id: &PolicyId, version: u32) -> Result<AccessPolicy, DocumentError> {
        if self.who.groups.is_empty()
            && self.who.app_roles.is_empty()
            && self.who.attributes.is_empty()
        {
            return Err(DocumentError(
                "who is empty, so the policy would apply to no one; list groups, app_roles or attributes"
                    .to_string(),
            ));
        }
        if self.quota == 0 || self.quota > 100 {
            return Err(DocumentError(format!(
                "quota {} is out of range; use 1 to 100 lockers per user",
                self.quota
            )));
        }
        let when = self
            .when
            .iter()
            .enumerate()
            .map(|(index, window)| window.to_window(index))
            .collect::<Result<Vec<_>, _>>()?;
        let how = match self.how {
            HowDocument::Fixed { auto_assign } => AssignmentMode::Fixed { auto_assign },
            HowDocument::Flex { max_booking_hours } => {
                if max_booking_hours == 0 || max_booking_hours > 24 * 31 {
                    return Err(DocumentError(format!(
                        "how.max_booking_hours {max_booking_hours} is out of range; use 1 to 744 hours"
                    )));
                }
                AssignmentMode::Flex {
                    max_booking: Duration::hours(i64::from(max_booking_hours)),
                }
            }
            HowDocument::Shared => AssignmentMode::Shared,
        };
        let policy = AccessPolicy {
            id: id.clone(),
            version,
            who: Who {
                groups: self.who.groups.iter().map(GroupId::new).collect(),
                app_roles: self.who.app_roles.clone(),
                attributes: self
                    .who
                    .attributes
                    .iter()
                    .map(|a| AttributeCondition {
                        name: a.name.clone(),
                        equals: a.equals.clone(),
                    })
                    .collect(),
            },
            what: Arc::new(What {
                banks: self.what.banks.iter().map(BankId::new).collect(),
                zones: self.what.zones.iter().map(ZoneId::new).collect(),
                kinds: self.what.kinds.clone(),
            }),
            how,
            quota: self.quota,
            when,
            lifecycle: Lifecycle {
                mover_grace_days: self.lifecycle.mover_grace_days,
                leaver_action: match self.lifecycle.leaver_action {
                    LeaverActionDocument::ClearOut => LeaverAction::ClearOut,
                    LeaverActionDocument::Release => LeaverAction::Release,
                },
            },
            remote_open_auth_context: self.remote_open_auth_context.clone(),
        };
        policy
            .validate()
            .map_err(|e| DocumentError(e.to_string()))?;
        Ok(policy)
    }
}

impl WindowDocument {
    fn to_window(&self, index: usize) -> Result<TimeWindow, DocumentError> {
        let field = |name: &str| format!("when[{index}].{name}");
        let mut days = WeekdaySet::EMPTY;
        for day in &self.days {
            let weekday = parse_weekday(day).ok_or_else(|| {
                DocumentError(format!(
                    "{} {day:?} is not a weekday; use mon, tue, wed, thu, fri, sat or sun",
                    field("days")
                ))
            })?;
            days = days.with(weekday);
        }
        if days == WeekdaySet::EMPTY {
            return Err(DocumentError(format!(
                "{} is empty; list at least one weekday",
                field("days")
            )));
        }
        let start = parse_clock(&self.start, false)
            .ok_or_else(|| clock_error(&field("start"), &self.start))?;
        let end =
            parse_clock(&self.end, true).ok_or_else(|| clock_error(&field("end"), &self.end))?;
        let utc_offset_minutes = parse_offset(&self.utc_offset).ok_or_else(|| {
            DocumentError(format!(
                "{} {:?} is not a UTC offset; use the form +01:00 or -05:30",
                field("utc_offset"),
                self.utc_offset
            ))
        })?;
        Ok(TimeWindow {
            days,
            start,
            end,
            utc_offset_minutes,
        })
    }
}

fn clock_error(field: &str, value: &str) -> DocumentError {
    DocumentError(format!(
        "{field} {value:?} is not a time of day; use HH:MM from 00:00 to 24:00"
    ))
}

fn parse_weekday(text: &str) -> Option<Weekday> {
    Some(match text.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only as an end.
fn parse_clock(text: &str, is_end: bool) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    let total = hours * 60 + minutes;
    let limit = if is_end {
        MINUTES_PER_DAY
    } else {
        MINUTES_PER_DAY - 1
    };
    (total <= limit).then_some(total)
}

fn parse_offset(text: &str) -> Option<i16> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let minutes = i16::try_from(parse_clock(rest, false)?).ok()?;
    (minutes <= 14 * 60).then_some(sign * minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(value: serde_json::Value) -> PolicyDocument {
        serde_json::from_value(value).expect("valid document")
    }

    #[test]
    fn minimal_document_takes_defaults() {
        let doc = document(json!({"who": {"groups": ["g1"]}, "how": {"mode": "fixed"}}));
        let policy = doc.to_policy(&PolicyId::new("p"), 1).unwrap();
        assert_eq!(policy.quota, 1);
        assert_eq!(policy.how, AssignmentMode::Fixed { auto_assign: true });
        assert_eq!(policy.lifecycle.mover_grace_days, 7);
        assert_eq!(policy.lifecycle.leaver_action, LeaverAction::ClearOut);
        assert!(policy.when.is_empty());
    }

    #[test]
    fn window_parses_days_times_and_offset() {
        let doc = document(json!({
            "who": {"app_roles": ["Nurse"]},
            "how": {"mode": "shared"},
            "when": [{"days": ["mon", "FRI"], "start": "22:00", "end": "06:30", "utc_offset": "-05:30"}]
        }));
        let policy = doc.to_policy(&PolicyId::new("p"), 3).unwrap();
        let window = policy.when[0];
        assert!(window.days.contains(Weekday::Monday));
        assert!(window.days.contains(Weekday::Friday));
        assert!(!window.days.contains(Weekday::Tuesday));
        assert_eq!((window.start, window.end), (22 * 60, 6 * 60 + 30));
        assert_eq!(window.utc_offset_minutes, -330);
        assert_eq!(policy.version, 3);
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                json!({"who": {}, "how": {"mode": "shared"}}),
                "who is empty",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "shared"}, "quota": 0}),
                "quota 0",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "flex", "max_booking_hours": 0}}),
                "max_booking_hours 0",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "shared"},
                       "when": [{"days": ["moon"], "start": "08:00", "end": "17:00"}]}),
                "when[0].days \"moon\"",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "shared"},
                       "when": [{"days": ["mon"], "start": "8:00", "end": "17:00"}]}),
                "when[0].start \"8:00\"",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "shared"},
                       "when": [{"days": ["mon"], "start": "24:00", "end": "17:00"}]}),
                "when[0].start \"24:00\"",
            ),
            (
                json!({"who": {"groups": ["g"]}, "how": {"mode": "shared"},
                       "when": [{"days": ["mon"], "start": "08:00", "end": "17:00", "utc_offset": "01:00"}]}),
                "when[0].utc_offset",
            ),
        ];
        for (value, expected) in cases {
            let error = document(value.clone())
                .to_policy(&PolicyId::new("p"), 1)
                .unwrap_err();
            assert!(error.0.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let result: Result<PolicyDocument, _> = serde_json::from_value(json!({
            "who": {"groups": ["g"]}, "how": {"mode": "shared"}, "quotas": 2
        }));
        assert!(result.unwrap_err().to_string().contains("quotas"));
    }
}
