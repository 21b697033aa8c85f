//! The lifecycle diff: turns a change in a user's entitlements into the
//! actions that joiner, mover and leaver rules call for. It is pure, so the
//! caller applies the actions and writes the notifications to an outbox.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use super::entitlement::Entitlement;
use super::model::{Assignment, Locker, LockerId, LockerKind, LockerState, PolicyId};
use super::policy::{AssignmentMode, LeaverAction, Lifecycle};

/// One step the caller must carry out. Assignments are named by their
/// locker, because a plan covers one user and a user holds a locker once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Give `locker` to the user under `policy`.
    Assign {
        locker: LockerId,
        policy: PolicyId,
    },
    /// The user lost the entitlement: they may open the locker to take
    /// things out until `until`, and the assignment then ends.
    StartGrace {
        assignment: LockerId,
        until: OffsetDateTime,
    },
    /// The entitlement came back during the grace period, so the
    /// assignment continues as before.
    CancelGrace {
        assignment: LockerId,
    },
    EndAssignment {
        assignment: LockerId,
    },
    /// Put the locker in clear-out until a facility manager records it
    /// emptied.
    ClearOut {
        locker: LockerId,
    },
    /// Make every badge, PIN and app session of the user stop working.
    RevokeCredentials,
    Notify {
        to: Recipient,
        reason: NotifyReason,
    },
}

/// Recipient of a notification. The outbox resolves the addresses, such as
/// the manager recorded in SCIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Owner,
    Manager,
    Facilities,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyReason {
    LockerAssigned {
        locker: LockerId,
    },
    GraceStarted {
        locker: LockerId,
        until: OffsetDateTime,
    },
    /// The user left, and all their access ended.
    AccessEnded,
    ClearOutNeeded {
        locker: LockerId,
    },
    /// A fixed policy could not fill the user's quota from available
    /// lockers in its scope.
    NoFreeLocker {
        policy: PolicyId,
    },
}

/// Plans the actions for one user after an identity change.
///
/// `previous` and `current` are the user's entitlements before and after
/// the change, `assignments` are the lockers the user holds, and `lockers`
/// is the pool that automatic assignment picks from. A user who is inactive
/// or `deleted` is a leaver. Only [`LockerState::Available`] lockers are
/// ever assigned, so a locker in clear-out stays out of use.
pub fn plan(
    previous: &[Entitlement],
    current: &[Entitlement],
    assignments: &[Assignment],
    lockers: &[Locker],
    subject_active: bool,
    deleted: bool,
    now: OffsetDateTime,
) -> Vec<LifecycleAction> {
    let terms = Terms { previous, lockers };
    if deleted || !subject_active {
        return plan_leaver(&terms, previous, assignments);
    }

    let mut actions = Vec::new();
    plan_movers(&terms, current, assignments, now, &mut actions);
    plan_joiners(current, assignments, lockers, &mut actions);
    actions
}

/// Lookup of the lifecycle rules and locker kinds that decide how an
/// assignment ends.
struct Terms<'a> {
    previous: &'a [Entitlement],
    lockers: &'a [Locker],
}

impl Terms<'_> {
    fn lifecycle(&self, policy: &PolicyId) -> Option<Lifecycle> {
        self.previous
            .iter()
            .find(|entitlement| &entitlement.policy == policy)
            .map(|entitlement| entitlement.lifecycle)
    }

    /// Returns whether ending `assignment` sends its locker to clear-out.
    /// An unknown policy or locker counts as clear-out, because handing a
    /// locker with someone's belongings to another user is the worse error.
    fn needs_clear_out(&self, assignment: &Assignment) -> bool {
        let action = self
            .lifecycle(&assignment.policy)
            .map_or(LeaverAction::ClearOut, |lifecycle| lifecycle.leaver_action);
        let may_hold_belongings = self
            .lockers
            .iter()
            .find(|locker| locker.id == assignment.locker)
            .is_none_or(|locker| locker.kind.may_hold_belongings());
        action == LeaverAction::ClearOut && may_hold_belongings
    }

    fn end(&self, assignment: &Assignment, actions: &mut Vec<LifecycleAction>) {
        actions.push(LifecycleAction::EndAssignment {
            assignment: assignment.locker.clone(),
        });
        if self.needs_clear_out(assignment) {
            actions.push(LifecycleAction::ClearOut {
                locker: assignment.locker.clone(),
            });
            actions.push(LifecycleAction::Notify {
                to: Recipient::Facilities,
                reason: NotifyReason::ClearOutNeeded {
                    locker: assignment.locker.clone(),
                },
            });
        }
    }
}

/// Ends everything at once. Credentials are revoked on every call, even
/// when nothing else is left to end, because revoking twice is harmless and
/// missing one is not. Notifications go out only when access was taken away,
/// so repeating the plan for a user who already left notifies no one again.
fn plan_leaver(
    terms: &Terms<'_>,
    previous: &[Entitlement],
    assignments: &[Assignment],
) -> Vec<LifecycleAction> {
    let mut actions = vec![LifecycleAction::RevokeCredentials];
    for assignment in assignments {
        terms.end(assignment, &mut actions);
    }

    if !previous.is_empty() || !assignments.is_empty() {
        for to in [Recipient::Owner, Recipient::Manager] {
            actions.push(LifecycleAction::Notify {
                to,
                reason: NotifyReason::AccessEnded,
            });
        }
    }
    actions
}

/// Starts, cancels or finishes grace periods for assignments whose policy
/// no longer applies. The grace length comes from the policy version the
/// user lost. Ending a grace period applies the policy's leaver action,
/// because nobody has checked that the mover emptied the locker.
fn plan_movers(
    terms: &Terms<'_>,
    current: &[Entitlement],
    assignments: &[Assignment],
    now: OffsetDateTime,
    actions: &mut Vec<LifecycleAction>,
) {
    for assignment in assignments {
        let still_entitled = current
            .iter()
            .any(|entitlement| entitlement.policy == assignment.policy);
        if still_entitled {
            if assignment.grace_until.is_some() {
                actions.push(LifecycleAction::CancelGrace {
                    assignment: assignment.locker.clone(),
                });
            }
            continue;
        }

        match assignment.grace_until {
            Some(until) if until <= now => terms.end(assignment, actions),
            Some(_) => {}
            None => {
                let grace_days = terms
                    .lifecycle(&assignment.policy)
                    .map_or(0, |lifecycle| lifecycle.mover_grace_days);
                if grace_days == 0 {
                    terms.end(assignment, actions);
                    continue;
                }
                let until = now + Duration::days(i64::from(grace_days));
                actions.push(LifecycleAction::StartGrace {
                    assignment: assignment.locker.clone(),
                    until,
                });
                actions.push(LifecycleAction::Notify {
                    to: Recipient::Owner,
                    reason: NotifyReason::GraceStarted {
                        locker: assignment.locker.clone(),
                        until,
                    },
                });
            }
        }
    }
}

/// Fills the quota of each fixed policy with automatic assignment from
/// available personal lockers in its scope, lowest door first (in
/// [`LockerId::door_order`]) so the same input always yields the same plan.
fn plan_joiners(
    current: &[Entitlement],
    assignments: &[Assignment],
    lockers: &[Locker],
    actions: &mut Vec<LifecycleAction>,
) {
    let mut in_use: BTreeSet<&LockerId> = assignments
        .iter()
        .map(|assignment| &assignment.locker)
        .collect();
    let mut candidates: Vec<&Locker> = lockers
        .iter()
        .filter(|locker| locker.state == LockerState::Available)
        .filter(|locker| locker.kind == LockerKind::Personal)
        .collect();
    candidates.sort_by(|a, b| a.id.door_order(&b.id));

    for entitlement in current {
        if entitlement.mode != (AssignmentMode::Fixed { auto_assign: true }) {
            continue;
        }
        let held = assignments
            .iter()
            .filter(|assignment| assignment.policy == entitlement.policy)
            .count();
        let mut missing = (entitlement.quota as usize).saturating_sub(held);

        for locker in &candidates {
            if missing == 0 {
                break;
            }
            if in_use.contains(&locker.id) || !entitlement.scope.covers(locker) {
                continue;
            }
            in_use.insert(&locker.id);
            missing -= 1;
            actions.push(LifecycleAction::Assign {
                locker: locker.id.clone(),
                policy: entitlement.policy.clone(),
            });
            actions.push(LifecycleAction::Notify {
                to: Recipient::Owner,
                reason: NotifyReason::LockerAssigned {
                    locker: locker.id.clone(),
                },
            });
        }

        if missing > 0 {
            actions.push(LifecycleAction::Notify {
                to: Recipient::Facilities,
                reason: NotifyReason::NoFreeLocker {
                    policy: entitlement.policy.clone(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests;
