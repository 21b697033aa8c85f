//! The physical model: sites contain zones, zones contain locker banks, and
//! banks contain lockers. Also the assignment that links a user to a locker.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Declares a string identifier newtype, so a bank id cannot be passed where
/// a zone id is expected. The text is shared: the index copies ids into
/// several maps and every entitlement names its policy, and a clone of an
/// `Arc<str>` allocates nothing.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(Arc::from(value.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// Identifier of a site, such as one hospital campus.
    SiteId
);
string_id!(
    /// Identifier of a zone inside a site, such as one floor or ward.
    ZoneId
);
string_id!(
    /// Identifier of a locker bank. Each bank has one controller.
    BankId
);
string_id!(
    /// Identifier of a single locker door.
    LockerId
);

impl LockerId {
    /// Orders locker ids as people read door numbers, so that `w3-a-2`
    /// comes before `w3-a-10`, which plain text order puts first.
    pub fn door_order(&self, other: &LockerId) -> std::cmp::Ordering {
        Self::compare_doors(self.as_str(), other.as_str())
    }

    /// Like [`LockerId::door_order`], for ids held as text.
    pub fn compare_doors(a: &str, b: &str) -> std::cmp::Ordering {
        alphanumeric_sort::compare_str(a, b).then_with(|| a.cmp(b))
    }
}
string_id!(
    /// The identity provider's stable user id (Entra `oid` or SCIM
    /// `externalId`), never the email address.
    UserId
);
string_id!(
    /// The identity provider's stable group id.
    GroupId
);
string_id!(
    /// Identifier of an access policy, the same for all its versions.
    PolicyId
);

/// Intended use of a locker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockerKind {
    /// Has one fixed owner.
    Personal,
    /// Booked per day or per hours.
    Flex,
    /// Used by a whole team.
    Shared,
    /// Holds a parcel for one recipient.
    Delivery,
}

impl LockerKind {
    /// Returns whether a user's own belongings may be left inside, so that
    /// the locker must be emptied before anyone else gets it. A shared
    /// locker stays with its team when one member leaves, and a delivery
    /// locker holds a parcel that the mailroom handles, so neither counts.
    pub fn may_hold_belongings(self) -> bool {
        match self {
            LockerKind::Personal | LockerKind::Flex => true,
            LockerKind::Shared | LockerKind::Delivery => false,
        }
    }
}

/// Operational state of a locker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockerState {
    Available,
    Assigned,
    /// Taken out of use by a facility manager.
    Blocked,
    Maintenance,
    /// Waits for a facility manager to record it emptied after its owner
    /// lost it. No one else may be given it until then.
    ClearOut,
}

/// Door size of a locker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockerSize {
    Small,
    Medium,
    Large,
    ExtraLarge,
}

/// One locker door and where it sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locker {
    pub id: LockerId,
    pub bank: BankId,
    pub zone: ZoneId,
    pub site: SiteId,
    pub kind: LockerKind,
    pub size: LockerSize,
    pub state: LockerState,
}

/// A user holding a locker under one policy: a fixed assignment without an
/// end, or a booking with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub locker: LockerId,
    pub user: UserId,
    /// The policy whose entitlement granted the locker.
    pub policy: PolicyId,
    pub starts_at: OffsetDateTime,
    /// End of a booking, or `None` for a fixed assignment.
    pub ends_at: Option<OffsetDateTime>,
    /// Set when the user lost the entitlement: until then the user may open
    /// the locker to take things out.
    pub grace_until: Option<OffsetDateTime>,
}

impl Assignment {
    /// Returns whether the assignment lets its user open the locker at `at`,
    /// ignoring entitlements and time windows.
    pub fn is_current(&self, at: OffsetDateTime) -> bool {
        if at < self.starts_at {
            return false;
        }
        if self.ends_at.is_some_and(|end| at >= end) {
            return false;
        }
        true
    }
}
