//! Invariant checks over many generated cases. A fixed-seed linear
//! congruential generator keeps every run identical, so a failure can be
//! reproduced from the case number in its message.

use std::collections::BTreeSet;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::decision::{Decision, DecisionContext, OpenMethod, OpenRequest, decide};
use super::entitlement::{Entitlement, entitlements};
use super::lifecycle::{LifecycleAction, plan};
use super::model::{
    Assignment, BankId, Locker, LockerId, LockerKind, LockerState, PolicyId, UserId, ZoneId,
};
use super::policy::{AccessPolicy, AssignmentMode, LeaverAction, Lifecycle};
use super::subject::{GroupGraph, Subject};
use super::testkit::{NOW, locker, policy, subject};
use super::window::{TimeWindow, WeekdaySet};

const CASES: u64 = 10_000;

/// A 64-bit linear congruential generator. Statistical quality does not
/// matter here, only that the sequence covers the small ranges drawn from it.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const KINDS: [LockerKind; 4] = [
    LockerKind::Personal,
    LockerKind::Flex,
    LockerKind::Shared,
    LockerKind::Delivery,
];
const STATES: [LockerState; 5] = [
    LockerState::Available,
    LockerState::Assigned,
    LockerState::Blocked,
    LockerState::Maintenance,
    LockerState::ClearOut,
];

fn gen_lockers(rng: &mut Lcg) -> Vec<Locker> {
    (0..1 + rng.below(8))
        .map(|index| {
            // Half of the lockers are available, so plans have lockers to
            // choose between and decisions reach the entitlement checks.
            let state = if rng.chance(50) {
                LockerState::Available
            } else {
                rng.pick(&STATES)
            };
            let mut generated = locker(&format!("L{index}"), rng.pick(&KINDS), state);
            generated.bank = BankId::new(format!("B{}", rng.below(2)));
            generated.zone = ZoneId::new(format!("Z{}", rng.below(2)));
            generated
        })
        .collect()
}

fn gen_policy(rng: &mut Lcg, index: u64) -> AccessPolicy {
    let modes = [
        AssignmentMode::Fixed { auto_assign: true },
        AssignmentMode::Fixed { auto_assign: false },
        AssignmentMode::Flex {
            max_booking: Duration::hours(4),
        },
        AssignmentMode::Shared,
    ];
    let mut generated = policy(&format!("p{index}"), "staff", rng.pick(&modes));
    generated.quota = rng.below(4) as u32;
    if rng.chance(50) {
        Arc::make_mut(&mut generated.what).kinds = vec![rng.pick(&KINDS)];
    }
    if rng.chance(30) {
        Arc::make_mut(&mut generated.what).banks = vec![BankId::new(format!("B{}", rng.below(2)))];
    }
    if rng.chance(30) {
        generated.when = vec![TimeWindow {
            days: WeekdaySet::WORKDAYS,
            start: rng.below(1440) as u16,
            end: rng.below(1441) as u16,
            utc_offset_minutes: 0,
        }];
    }
    generated.lifecycle = Lifecycle {
        mover_grace_days: rng.below(3) as u32,
        leaver_action: rng.pick(&[LeaverAction::ClearOut, LeaverAction::Release]),
    };
    generated
}

fn gen_entitlements(rng: &mut Lcg, policies: &[AccessPolicy]) -> Vec<Entitlement> {
    let granted = subject("u1", &["staff"]);
    let chosen: Vec<AccessPolicy> = policies
        .iter()
        .filter(|_| rng.chance(60))
        .cloned()
        .collect();
    entitlements(&granted, &GroupGraph::new(), &chosen)
}

fn gen_assignments(rng: &mut Lcg, lockers: &[Locker], policy_count: u64) -> Vec<Assignment> {
    let mut generated = Vec::new();
    for held in lockers {
        if !rng.chance(30) {
            continue;
        }
        let policy = PolicyId::new(format!("p{}", rng.below(policy_count.max(1))));
        let starts_at = NOW - Duration::days(rng.below(5) as i64);
        let ends_at = rng
            .chance(30)
            .then(|| NOW + Duration::hours(rng.below(48) as i64 - 24));
        let grace_until = rng
            .chance(30)
            .then(|| NOW + Duration::hours(rng.below(48) as i64 - 24));
        generated.push(Assignment {
            locker: held.id.clone(),
            user: UserId::new("u1"),
            policy,
            starts_at,
            ends_at,
            grace_until,
        });
    }
    generated
}

fn gen_time(rng: &mut Lcg) -> OffsetDateTime {
    NOW + Duration::minutes(rng.below(7 * 24 * 60) as i64)
}

#[test]
fn inactive_user_never_allowed() {
    let mut rng = Lcg(1);
    let methods = [OpenMethod::Badge, OpenMethod::Pin, OpenMethod::App];
    let mut allowed_if_active = 0;

    for case in 0..CASES {
        let lockers = gen_lockers(&mut rng);
        let Some(target) = lockers.first() else {
            continue;
        };
        let policies: Vec<AccessPolicy> = (0..1 + rng.below(4))
            .map(|i| gen_policy(&mut rng, i))
            .collect();
        // Entitlements computed while the user was still active, as a stale
        // index might hold them.
        let stale = gen_entitlements(&mut rng, &policies);
        let assignments = gen_assignments(&mut rng, &lockers, policies.len() as u64);
        let mut user = subject("u1", &["staff"]);
        user.active = false;

        let ctx = DecisionContext {
            subject: &user,
            locker: target,
            assignment: assignments.iter().find(|held| held.locker == target.id),
            entitlements: &stale,
            policies: &policies,
            pin_locked: rng.chance(20),
        };
        let request = OpenRequest {
            user: Some(UserId::new("u1")),
            locker: target.id.clone(),
            method: rng.pick(&methods),
            at: gen_time(&mut rng),
            auth_contexts: vec!["c1".to_string()],
        };
        assert_ne!(
            decide(&request, &ctx),
            Decision::Allow,
            "case {case}: {ctx:?}"
        );
        assert!(
            entitlements(&user, &GroupGraph::new(), &policies).is_empty(),
            "case {case}"
        );

        let active_user = Subject {
            active: true,
            ..user.clone()
        };
        let active_ctx = DecisionContext {
            subject: &active_user,
            ..ctx
        };
        if decide(&request, &active_ctx) == Decision::Allow {
            allowed_if_active += 1;
        }
    }

    // Guards against a generator change that makes every open fail for
    // other reasons, which would let the check above pass without meaning.
    assert!(allowed_if_active >= 100, "only {allowed_if_active} cases");
}

#[test]
fn clear_out_locker_never_assigned() {
    let mut rng = Lcg(2);
    let mut contested = 0;

    for case in 0..CASES {
        let mut lockers = gen_lockers(&mut rng);
        let policies: Vec<AccessPolicy> = (0..1 + rng.below(4))
            .map(|i| gen_policy(&mut rng, i))
            .collect();
        let previous = gen_entitlements(&mut rng, &policies);
        let current = gen_entitlements(&mut rng, &policies);
        let assignments = gen_assignments(&mut rng, &lockers, policies.len() as u64);
        let active = rng.chance(70);
        let deleted = rng.chance(10);

        let actions = plan(
            &previous,
            &current,
            &assignments,
            &lockers,
            active,
            deleted,
            NOW,
        );
        check_assignments(case, &actions, &lockers, &assignments);

        // Apply the plan's clear-outs and drop a leaver's assignments, then
        // plan again for an active user. Lockers just sent to clear-out must
        // stay out of use.
        let mut cleared: BTreeSet<LockerId> = BTreeSet::new();
        for action in &actions {
            if let LifecycleAction::ClearOut { locker } = action {
                cleared.insert(locker.clone());
            }
        }
        for held in &mut lockers {
            if cleared.contains(&held.id) {
                held.state = LockerState::ClearOut;
            }
        }
        let left = !active || deleted;
        let remaining: Vec<Assignment> = if left {
            Vec::new()
        } else {
            assignments.clone()
        };
        let reenabled = plan(&[], &current, &remaining, &lockers, true, false, NOW);
        check_assignments(case, &reenabled, &lockers, &remaining);

        let has_clear_out = lockers
            .iter()
            .any(|held| held.state == LockerState::ClearOut);
        let assigns = [&actions, &reenabled]
            .into_iter()
            .flatten()
            .any(|action| matches!(action, LifecycleAction::Assign { .. }));
        if has_clear_out && assigns {
            contested += 1;
        }
    }

    // Counts cases where a locker in clear-out sat next to lockers that were
    // assigned, so the check above ran against a real choice.
    assert!(contested >= 100, "only {contested} cases");
}

fn check_assignments(
    case: u64,
    actions: &[LifecycleAction],
    lockers: &[Locker],
    assignments: &[Assignment],
) {
    let mut assigned: BTreeSet<&LockerId> = BTreeSet::new();
    for action in actions {
        let LifecycleAction::Assign { locker: id, .. } = action else {
            continue;
        };
        let target = lockers.iter().find(|candidate| &candidate.id == id);
        let state = target.map(|found| found.state);
        assert_ne!(
            state,
            Some(LockerState::ClearOut),
            "case {case}: {actions:?}"
        );
        assert_eq!(
            state,
            Some(LockerState::Available),
            "case {case}: {actions:?}"
        );
        assert!(assigned.insert(id), "case {case}: {id} assigned twice");
        assert!(
            assignments.iter().all(|held| &held.locker != id),
            "case {case}: {id} already held"
        );
    }
}
