//! Identity events: every change SCIM makes to users, groups and
//! memberships, written in the same transaction as the change itself so the
//! locker lifecycle never misses or invents one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityEventKind {
    UserCreated,
    /// Attributes changed; `active` did not.
    UserUpdated,
    /// `active` went from true to false: a leaver, or a mover out of scope.
    UserDeactivated,
    /// `active` went from false to true.
    UserReactivated,
    /// DELETE: the user is gone from the directory; a tombstone remains.
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    MemberAdded,
    MemberRemoved,
}

impl IdentityEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityEventKind::UserCreated => "user_created",
            IdentityEventKind::UserUpdated => "user_updated",
            IdentityEventKind::UserDeactivated => "user_deactivated",
            IdentityEventKind::UserReactivated => "user_reactivated",
            IdentityEventKind::UserDeleted => "user_deleted",
            IdentityEventKind::GroupCreated => "group_created",
            IdentityEventKind::GroupUpdated => "group_updated",
            IdentityEventKind::GroupDeleted => "group_deleted",
            IdentityEventKind::MemberAdded => "member_added",
            IdentityEventKind::MemberRemoved => "member_removed",
        }
    }

    pub fn parse(text: &str) -> Option<IdentityEventKind> {
        serde_json::from_value(Value::String(text.to_string())).ok()
    }
}

/// One identity change, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityEvent {
    /// Position in the tenant's event stream; assigned by the store.
    pub seq: i64,
    pub tenant_id: String,
    pub kind: IdentityEventKind,
    /// The user or group the event is about.
    pub subject_id: String,
    /// For membership events, the member; otherwise `None`.
    pub object_id: Option<String>,
    /// Event details, such as the attributes that changed.
    pub detail: Value,
    /// The SCIM request id that caused the change.
    pub request_id: Option<String>,
    pub occurred_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_text_round_trips() {
        for kind in [
            IdentityEventKind::UserCreated,
            IdentityEventKind::UserDeactivated,
            IdentityEventKind::MemberRemoved,
        ] {
            assert_eq!(IdentityEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(IdentityEventKind::parse("nope"), None);
    }
}
