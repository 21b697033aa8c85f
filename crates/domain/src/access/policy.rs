//! Access policies: who may use which lockers, how, when, and what happens
//! when they move or leave.

use std::sync::Arc;

use time::Duration;

use super::model::{BankId, GroupId, Locker, LockerKind, PolicyId, ZoneId};
use super::window::{TimeWindow, WindowError};

/// A versioned access policy. A new version keeps the same `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub id: PolicyId,
    pub version: u32,
    pub who: Who,
    /// Scope shared with the entitlements the policy grants, because every
    /// user it covers keeps a copy and the zone and bank lists can be long.
    pub what: Arc<What>,
    pub how: AssignmentMode,
    /// Maximum number of lockers one user holds under this policy.
    pub quota: u32,
    /// Windows in which opens are allowed. An empty list allows any time.
    pub when: Vec<TimeWindow>,
    pub lifecycle: Lifecycle,
    /// The Entra authentication context (an `acrs` value such as `c1`)
    /// that an open from the app must have satisfied, for lockers such as a
    /// medication cabinet.
    pub remote_open_auth_context: Option<String>,
}

/// A policy field that would make the policy grant the wrong access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy {policy}: time window {index} is invalid: {error}")]
    InvalidWindow {
        policy: PolicyId,
        index: usize,
        /// Kept out of `Error::source` because the message already includes it.
        error: WindowError,
    },
    #[error("policy {policy}: maximum booking length must be positive")]
    InvalidMaxBooking { policy: PolicyId },
}

impl AccessPolicy {
    /// Checks the policy before it is saved. The evaluation functions do not
    /// call this, so they must only be given checked policies.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (index, window) in self.when.iter().enumerate() {
            window
                .validate()
                .map_err(|error| PolicyError::InvalidWindow {
                    policy: self.id.clone(),
                    index,
                    error,
                })?;
        }
        if let AssignmentMode::Flex { max_booking } = self.how
            && !max_booking.is_positive()
        {
            return Err(PolicyError::InvalidMaxBooking {
                policy: self.id.clone(),
            });
        }
        Ok(())
    }
}

/// The users a policy applies to. A user matches when they are in one of
/// `groups` (directly or through nested groups) or hold one of `app_roles`,
/// and every attribute condition holds. When both lists are empty the
/// attribute conditions alone decide, and a `Who` with nothing in it matches
/// no one, so an unfinished policy grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Who {
    pub groups: Vec<GroupId>,
    pub app_roles: Vec<String>,
    pub attributes: Vec<AttributeCondition>,
}

impl Who {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.app_roles.is_empty() && self.attributes.is_empty()
    }
}

/// A user attribute, such as `department`, that must equal a value exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeCondition {
    pub name: String,
    pub equals: String,
}

/// The lockers a policy covers. Each list narrows the scope, and an empty
/// list places no limit on its dimension.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct What {
    pub banks: Vec<BankId>,
    pub zones: Vec<ZoneId>,
    pub kinds: Vec<LockerKind>,
}

impl What {
    pub fn covers(&self, locker: &Locker) -> bool {
        let bank = self.banks.is_empty() || self.banks.contains(&locker.bank);
        let zone = self.zones.is_empty() || self.zones.contains(&locker.zone);
        let kind = self.kinds.is_empty() || self.kinds.contains(&locker.kind);
        bank && zone && kind
    }
}

/// Assignment mode: the way users get lockers under a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentMode {
    /// A personal locker held until the entitlement ends; with `auto_assign`
    /// the lifecycle engine picks one as soon as the entitlement appears.
    Fixed { auto_assign: bool },
    /// Bookings, each no longer than `max_booking`.
    Flex { max_booking: Duration },
    /// Team lockers that every entitled user may open without a booking.
    Shared,
}

/// Rules for a user's lockers when they move out of the policy or leave
/// the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Days a mover may still open a locker to take things out.
    pub mover_grace_days: u32,
    pub leaver_action: LeaverAction,
}

/// Treatment of a locker whose assignment ended without its owner
/// emptying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaverAction {
    /// Lockers that may hold belongings wait for a facility manager.
    ClearOut,
    /// Lockers return to the pool at once.
    Release,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::model::{LockerId, LockerSize, LockerState, SiteId};

    fn locker(bank: &str, zone: &str, kind: LockerKind) -> Locker {
        Locker {
            id: LockerId::new("L1"),
            bank: BankId::new(bank),
            zone: ZoneId::new(zone),
            site: SiteId::new("S1"),
            kind,
            size: LockerSize::Medium,
            state: LockerState::Available,
        }
    }

    #[test]
    fn empty_scope_covers_everything() {
        let what = What::default();
        assert!(what.covers(&locker("B1", "Z1", LockerKind::Personal)));
        assert!(what.covers(&locker("B9", "Z9", LockerKind::Delivery)));
    }

    #[test]
    fn scope_narrows_each_dimension() {
        let what = What {
            banks: vec![BankId::new("B1")],
            zones: vec![ZoneId::new("Z1")],
            kinds: vec![LockerKind::Personal],
        };
        let cases = [
            (locker("B1", "Z1", LockerKind::Personal), true),
            (locker("B2", "Z1", LockerKind::Personal), false),
            (locker("B1", "Z2", LockerKind::Personal), false),
            (locker("B1", "Z1", LockerKind::Flex), false),
        ];
        for (locker, expected) in cases {
            assert_eq!(what.covers(&locker), expected, "{locker:?}");
        }
    }

    #[test]
    fn validate_rejects_bad_window() {
        let mut policy = crate::access::testkit::fixed_policy("p", "nurses");
        assert_eq!(policy.validate(), Ok(()));

        policy.when = vec![TimeWindow {
            days: crate::access::window::WeekdaySet::EMPTY,
            start: 0,
            end: 60,
            utc_offset_minutes: 0,
        }];
        assert_eq!(
            policy.validate(),
            Err(PolicyError::InvalidWindow {
                policy: PolicyId::new("p"),
                index: 0,
                error: WindowError::NoDays,
            })
        );
    }

    #[test]
    fn validate_rejects_empty_booking() {
        let mut policy = crate::access::testkit::fixed_policy("p", "nurses");
        for max_booking in [Duration::ZERO, Duration::hours(-1)] {
            policy.how = AssignmentMode::Flex { max_booking };
            assert_eq!(
                policy.validate(),
                Err(PolicyError::InvalidMaxBooking {
                    policy: PolicyId::new("p")
                }),
                "{max_booking}"
            );
        }
        policy.how = AssignmentMode::Flex {
            max_booking: Duration::hours(8),
        };
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn empty_who_is_empty() {
        assert!(Who::default().is_empty());
        let who = Who {
            app_roles: vec!["Nurse".to_string()],
            ..Who::default()
        };
        assert!(!who.is_empty());
    }
}
