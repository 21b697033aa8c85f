//! Builders shared by the access tests, so each test states only what it
//! varies.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;

use super::entitlement::Entitlement;
use super::model::{
    Assignment, BankId, GroupId, Locker, LockerId, LockerKind, LockerSize, LockerState, PolicyId,
    SiteId, UserId, ZoneId,
};
use super::policy::{AccessPolicy, AssignmentMode, LeaverAction, Lifecycle, What, Who};
use super::subject::Subject;

/// A Monday at noon UTC.
pub const NOW: OffsetDateTime = datetime!(2026-12-07 12:00 UTC);

pub fn policy(id: &str, group: &str, how: AssignmentMode) -> AccessPolicy {
    AccessPolicy {
        id: PolicyId::new(id),
        version: 1,
        who: Who {
            groups: vec![GroupId::new(group)],
            ..Who::default()
        },
        what: Arc::new(What::default()),
        how,
        quota: 1,
        when: Vec::new(),
        lifecycle: Lifecycle {
            mover_grace_days: 7,
            leaver_action: LeaverAction::ClearOut,
        },
        remote_open_auth_context: None,
    }
}

pub fn fixed_policy(id: &str, group: &str) -> AccessPolicy {
    policy(id, group, AssignmentMode::Fixed { auto_assign: true })
}

pub fn subject(user: &str, groups: &[&str]) -> Subject {
    Subject {
        user: UserId::new(user),
        active: true,
        direct_groups: groups.iter().map(|group| GroupId::new(*group)).collect(),
        app_roles: Vec::new(),
        attributes: BTreeMap::new(),
    }
}

pub fn locker(id: &str, kind: LockerKind, state: LockerState) -> Locker {
    Locker {
        id: LockerId::new(id),
        bank: BankId::new("B1"),
        zone: ZoneId::new("Z1"),
        site: SiteId::new("S1"),
        kind,
        size: LockerSize::Medium,
        state,
    }
}

pub fn entitlement(policy: &AccessPolicy) -> Entitlement {
    Entitlement {
        policy: policy.id.clone(),
        version: policy.version,
        scope: policy.what.clone(),
        mode: policy.how,
        quota: policy.quota,
        lifecycle: policy.lifecycle,
    }
}

pub fn assignment(locker: &str, user: &str, policy: &str) -> Assignment {
    Assignment {
        locker: LockerId::new(locker),
        user: UserId::new(user),
        policy: PolicyId::new(policy),
        starts_at: datetime!(2026-12-01 08:00 UTC),
        ends_at: None,
        grace_until: None,
    }
}
