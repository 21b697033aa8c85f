use time::Duration;

use super::*;
use crate::access::model::LockerState::{Assigned, Available, Blocked, ClearOut, Maintenance};
use crate::access::testkit::{NOW, assignment, entitlement, fixed_policy, locker, policy};

fn lid(id: &str) -> LockerId {
    LockerId::new(id)
}

fn assigned_lockers(actions: &[LifecycleAction]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|action| match action {
            LifecycleAction::Assign { locker, .. } => Some(locker.as_str()),
            _ => None,
        })
        .collect()
}

fn cleared_lockers(actions: &[LifecycleAction]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|action| match action {
            LifecycleAction::ClearOut { locker } => Some(locker.as_str()),
            _ => None,
        })
        .collect()
}

fn ended(actions: &[LifecycleAction]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|action| match action {
            LifecycleAction::EndAssignment { assignment } => Some(assignment.as_str()),
            _ => None,
        })
        .collect()
}

fn notified(actions: &[LifecycleAction], to: Recipient) -> Vec<&NotifyReason> {
    actions
        .iter()
        .filter_map(|action| match action {
            LifecycleAction::Notify {
                to: recipient,
                reason,
            } if *recipient == to => Some(reason),
            _ => None,
        })
        .collect()
}

fn personal(id: &str) -> Locker {
    locker(id, LockerKind::Personal, Available)
}

/// Plans a joiner who gains a fixed policy with the given quota.
fn plan_joiner(quota: u32, lockers: &[Locker]) -> Vec<LifecycleAction> {
    let mut granting = fixed_policy("p", "nurses");
    granting.quota = quota;
    plan(
        &[],
        &[entitlement(&granting)],
        &[],
        lockers,
        true,
        false,
        NOW,
    )
}

#[test]
fn joiner_fixed_auto_assigns() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let lockers = [personal("L2"), personal("L1")];
    let actions = plan(&[], &current, &[], &lockers, true, false, NOW);

    assert_eq!(assigned_lockers(&actions), ["L1"]);
    assert_eq!(
        notified(&actions, Recipient::Owner),
        [&NotifyReason::LockerAssigned { locker: lid("L1") }]
    );
    assert!(!actions.contains(&LifecycleAction::RevokeCredentials));
}

#[test]
fn joiner_gets_lowest_door_number() {
    let lockers = [personal("w3-a-10"), personal("w3-a-2"), personal("w3-a-1")];
    let actions = plan_joiner(2, &lockers);
    assert_eq!(assigned_lockers(&actions), ["w3-a-1", "w3-a-2"]);
}

#[test]
fn joiner_fills_quota() {
    let lockers = [personal("L1"), personal("L2"), personal("L3")];
    let actions = plan_joiner(2, &lockers);
    assert_eq!(assigned_lockers(&actions), ["L1", "L2"]);
}

#[test]
fn joiner_counts_held_lockers() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let held = [assignment("L1", "u1", "p")];
    let lockers = [locker("L1", LockerKind::Personal, Assigned), personal("L2")];
    let actions = plan(&current, &current, &held, &lockers, true, false, NOW);
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn joiner_zero_quota_assigns_nothing() {
    let actions = plan_joiner(0, &[personal("L1")]);
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn joiner_other_modes_not_auto_assigned() {
    let modes = [
        AssignmentMode::Fixed { auto_assign: false },
        AssignmentMode::Flex {
            max_booking: Duration::hours(8),
        },
        AssignmentMode::Shared,
    ];
    for mode in modes {
        let current = [entitlement(&policy("p", "nurses", mode))];
        let actions = plan(&[], &current, &[], &[personal("L1")], true, false, NOW);
        assert!(actions.is_empty(), "{mode:?}: {actions:?}");
    }
}

#[test]
fn joiner_takes_only_available_lockers() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let lockers = [
        locker("L1", LockerKind::Personal, ClearOut),
        locker("L2", LockerKind::Personal, Blocked),
        locker("L3", LockerKind::Personal, Maintenance),
        locker("L4", LockerKind::Personal, Assigned),
        personal("L5"),
    ];
    let actions = plan(&[], &current, &[], &lockers, true, false, NOW);
    assert_eq!(assigned_lockers(&actions), ["L5"]);
}

#[test]
fn joiner_takes_personal_in_scope() {
    let mut granting = fixed_policy("p", "nurses");
    std::sync::Arc::make_mut(&mut granting.what).zones =
        vec![crate::access::model::ZoneId::new("Z2")];
    let mut in_zone = personal("L9");
    in_zone.zone = crate::access::model::ZoneId::new("Z2");
    let mut flex_in_zone = locker("L3", LockerKind::Flex, Available);
    flex_in_zone.zone = in_zone.zone.clone();
    let lockers = [personal("L1"), flex_in_zone, in_zone];

    let actions = plan(
        &[],
        &[entitlement(&granting)],
        &[],
        &lockers,
        true,
        false,
        NOW,
    );
    assert_eq!(assigned_lockers(&actions), ["L9"]);
}

#[test]
fn joiner_without_free_locker_notifies_facilities() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let lockers = [locker("L1", LockerKind::Personal, ClearOut)];
    let actions = plan(&[], &current, &[], &lockers, true, false, NOW);

    assert!(assigned_lockers(&actions).is_empty());
    assert_eq!(
        notified(&actions, Recipient::Facilities),
        [&NotifyReason::NoFreeLocker {
            policy: PolicyId::new("p")
        }]
    );
}

#[test]
fn mover_starts_grace_from_lost_policy() {
    let previous = [entitlement(&fixed_policy("p", "nurses"))];
    let held = [assignment("L1", "u1", "p")];
    let actions = plan(&previous, &[], &held, &[], true, false, NOW);

    let until = NOW + Duration::days(7);
    assert_eq!(
        actions[0],
        LifecycleAction::StartGrace {
            assignment: lid("L1"),
            until
        }
    );
    assert_eq!(
        notified(&actions, Recipient::Owner),
        [&NotifyReason::GraceStarted {
            locker: lid("L1"),
            until
        }]
    );
    assert!(ended(&actions).is_empty());
    assert!(cleared_lockers(&actions).is_empty());
}

#[test]
fn mover_zero_grace_ends_now() {
    let mut lost = fixed_policy("p", "nurses");
    lost.lifecycle.mover_grace_days = 0;
    let held = [assignment("L1", "u1", "p")];
    let lockers = [locker("L1", LockerKind::Personal, Assigned)];
    let actions = plan(
        &[entitlement(&lost)],
        &[],
        &held,
        &lockers,
        true,
        false,
        NOW,
    );

    assert_eq!(ended(&actions), ["L1"]);
    assert_eq!(cleared_lockers(&actions), ["L1"]);
}

#[test]
fn mover_inside_grace_waits() {
    let mut held = assignment("L1", "u1", "p");
    held.grace_until = Some(NOW + Duration::hours(1));
    let actions = plan(&[], &[], &[held], &[], true, false, NOW);
    assert!(actions.is_empty(), "{actions:?}");
}

#[test]
fn mover_after_grace_ends() {
    let mut held = assignment("L1", "u1", "p");
    held.grace_until = Some(NOW);
    let lockers = [locker("L1", LockerKind::Personal, Assigned)];
    let previous = [entitlement(&fixed_policy("p", "nurses"))];
    let actions = plan(&previous, &[], &[held], &lockers, true, false, NOW);

    assert_eq!(ended(&actions), ["L1"]);
    assert_eq!(cleared_lockers(&actions), ["L1"]);
}

#[test]
fn mover_regaining_entitlement_cancels_grace() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let mut held = assignment("L1", "u1", "p");
    held.grace_until = Some(NOW + Duration::days(2));
    let actions = plan(&[], &current, &[held], &[personal("L2")], true, false, NOW);

    assert_eq!(
        actions,
        [LifecycleAction::CancelGrace {
            assignment: lid("L1")
        }]
    );
}

#[test]
fn mover_gains_new_policy_locker() {
    let previous = [entitlement(&fixed_policy("p-old", "ward-3"))];
    let current = [entitlement(&fixed_policy("p-new", "icu"))];
    let held = [assignment("L1", "u1", "p-old")];
    let lockers = [locker("L1", LockerKind::Personal, Assigned), personal("L2")];
    let actions = plan(&previous, &current, &held, &lockers, true, false, NOW);

    assert!(matches!(actions[0], LifecycleAction::StartGrace { .. }));
    assert_eq!(assigned_lockers(&actions), ["L2"]);
}

#[test]
fn leaver_ends_everything_at_once() {
    let previous = [entitlement(&fixed_policy("p", "nurses"))];
    let held = [
        assignment("L1", "u1", "p"),
        assignment("L2", "u1", "p"),
        assignment("L3", "u1", "p"),
    ];
    let lockers = [
        locker("L1", LockerKind::Personal, Assigned),
        locker("L2", LockerKind::Shared, Assigned),
        locker("L3", LockerKind::Flex, Assigned),
    ];
    let actions = plan(&previous, &[], &held, &lockers, false, false, NOW);

    assert_eq!(actions[0], LifecycleAction::RevokeCredentials);
    assert_eq!(ended(&actions), ["L1", "L2", "L3"]);
    assert_eq!(cleared_lockers(&actions), ["L1", "L3"]);
    assert_eq!(
        notified(&actions, Recipient::Owner),
        [&NotifyReason::AccessEnded]
    );
    assert_eq!(
        notified(&actions, Recipient::Manager),
        [&NotifyReason::AccessEnded]
    );
    assert_eq!(notified(&actions, Recipient::Facilities).len(), 2);
}

#[test]
fn leaver_release_skips_clear_out() {
    let mut released = fixed_policy("p", "nurses");
    released.lifecycle.leaver_action = LeaverAction::Release;
    let held = [assignment("L1", "u1", "p")];
    let lockers = [locker("L1", LockerKind::Personal, Assigned)];
    let actions = plan(
        &[entitlement(&released)],
        &[],
        &held,
        &lockers,
        false,
        false,
        NOW,
    );

    assert_eq!(ended(&actions), ["L1"]);
    assert!(cleared_lockers(&actions).is_empty());
}

#[test]
fn leaver_unknown_policy_clears_out() {
    let held = [assignment("L1", "u1", "deleted-policy")];
    let actions = plan(&[], &[], &held, &[], false, false, NOW);
    assert_eq!(cleared_lockers(&actions), ["L1"]);
}

#[test]
fn leaver_deleted_while_active() {
    let previous = [entitlement(&fixed_policy("p", "nurses"))];
    let held = [assignment("L1", "u1", "p")];
    let actions = plan(&previous, &previous, &held, &[], true, true, NOW);

    assert_eq!(actions[0], LifecycleAction::RevokeCredentials);
    assert_eq!(ended(&actions), ["L1"]);
    assert!(assigned_lockers(&actions).is_empty());
}

#[test]
fn leaver_ignores_current_entitlements() {
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let actions = plan(&[], &current, &[], &[personal("L1")], false, false, NOW);
    assert!(assigned_lockers(&actions).is_empty());
}

#[test]
fn leaver_repeat_notifies_nobody() {
    let actions = plan(&[], &[], &[], &[], false, false, NOW);
    assert_eq!(actions, [LifecycleAction::RevokeCredentials]);
}

#[test]
fn reenable_restores_without_clear_out() {
    // After leaving, the user has no entitlements and no assignments, and
    // their old locker waits in clear-out.
    let current = [entitlement(&fixed_policy("p", "nurses"))];
    let lockers = [locker("L1", LockerKind::Personal, ClearOut), personal("L2")];
    let actions = plan(&[], &current, &[], &lockers, true, false, NOW);

    assert_eq!(assigned_lockers(&actions), ["L2"]);
    assert!(cleared_lockers(&actions).is_empty());
    assert!(!actions.contains(&LifecycleAction::RevokeCredentials));
}
