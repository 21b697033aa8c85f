//! Open decisions: whether one badge tap, PIN entry or app request may open
//! a locker, and if not, a reason a helpdesk can read out.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::entitlement::Entitlement;
use super::model::{Assignment, Locker, LockerId, LockerKind, LockerState, PolicyId, UserId};
use super::policy::{AccessPolicy, AssignmentMode};
use super::subject::Subject;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenMethod {
    Badge,
    Pin,
    App,
}

/// One open attempt at a locker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// The user the credential belongs to, or `None` when the badge, PIN or
    /// session matched no user.
    pub user: Option<UserId>,
    pub locker: LockerId,
    pub method: OpenMethod,
    pub at: OffsetDateTime,
    /// Authentication contexts (Entra `acrs`) the sign-in behind an app open
    /// satisfied; empty for badges and PINs.
    pub auth_contexts: Vec<String>,
}

/// Data a decision is made from, as the in-memory index stores it.
#[derive(Debug, Clone, Copy)]
pub struct DecisionContext<'a> {
    pub subject: &'a Subject,
    pub locker: &'a Locker,
    /// The current assignment of the locker, to this user or another.
    pub assignment: Option<&'a Assignment>,
    pub entitlements: &'a [Entitlement],
    pub policies: &'a [AccessPolicy],
    /// Set when too many wrong PINs locked the user's PIN.
    pub pin_locked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

/// Reason code of a denied open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    NotEntitled,
    InactiveUser,
    OutsideTimeWindow,
    LockerInClearOut,
    LockerBlocked,
    UnknownCredential,
    PinLocked,
    /// A remote open of this locker needs a stronger sign-in first.
    StepUpRequired,
    /// The PIN entered does not match the PIN of the locker's holder.
    WrongPin,
    NotAssigned,
    GraceExpired,
}

impl DenyReason {
    /// Returns the stable reason code, as stored in the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::NotEntitled => "not_entitled",
            DenyReason::InactiveUser => "inactive_user",
            DenyReason::OutsideTimeWindow => "outside_time_window",
            DenyReason::LockerInClearOut => "locker_in_clear_out",
            DenyReason::LockerBlocked => "locker_blocked",
            DenyReason::UnknownCredential => "unknown_credential",
            DenyReason::PinLocked => "pin_locked",
            DenyReason::StepUpRequired => "step_up_required",
            DenyReason::WrongPin => "wrong_pin",
            DenyReason::NotAssigned => "not_assigned",
            DenyReason::GraceExpired => "grace_expired",
        }
    }

    /// Returns an explanation for the helpdesk, with the usual next step.
    pub fn explanation(&self) -> &'static str {
        match self {
            DenyReason::NotEntitled => {
                "No access policy covers this locker for this user; check their groups, app roles and attributes."
            }
            DenyReason::InactiveUser => {
                "The user is disabled or deleted in the identity provider, so all their access has ended."
            }
            DenyReason::OutsideTimeWindow => {
                "The user's policy does not allow opens at this time of day or on this weekday."
            }
            DenyReason::LockerInClearOut => {
                "The locker waits for a facility manager to record it emptied after its owner lost it."
            }
            DenyReason::LockerBlocked => {
                "The locker is blocked or under maintenance; a facility manager must return it to service."
            }
            DenyReason::UnknownCredential => {
                "The badge, PIN or app session does not belong to any user; enrol the badge or sign in again."
            }
            DenyReason::PinLocked => {
                "Too many wrong PINs locked the user's PIN; reset it or use a badge or the app."
            }
            DenyReason::StepUpRequired => {
                "Opening this locker from the app needs a stronger sign-in; sign in again when the app asks, then retry."
            }
            DenyReason::WrongPin => {
                "The PIN does not match; after five wrong PINs in a row the PIN locks for 15 minutes."
            }
            DenyReason::NotAssigned => {
                "The user may use lockers here but does not hold or have a current booking for this one."
            }
            DenyReason::GraceExpired => {
                "The grace period after the user moved out of the policy has ended, so the locker is no longer theirs."
            }
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.explanation())
    }
}

/// Decides one open attempt. Checks run from the most basic to the most
/// specific, so the reason given is the first thing the helpdesk must fix.
pub fn decide(request: &OpenRequest, ctx: &DecisionContext<'_>) -> Decision {
    match check(request, ctx) {
        Ok(()) => Decision::Allow,
        Err(reason) => Decision::Deny(reason),
    }
}

fn check(request: &OpenRequest, ctx: &DecisionContext<'_>) -> Result<(), DenyReason> {
    // A context built for another user or locker is a caller error. It is
    // denied so that a mix-up never opens a door.
    if request.user.as_ref() != Some(&ctx.subject.user) {
        return Err(DenyReason::UnknownCredential);
    }
    if request.locker != ctx.locker.id {
        return Err(DenyReason::NotEntitled);
    }
    if !ctx.subject.active {
        return Err(DenyReason::InactiveUser);
    }
    if request.method == OpenMethod::Pin && ctx.pin_locked {
        return Err(DenyReason::PinLocked);
    }
    match ctx.locker.state {
        LockerState::ClearOut => return Err(DenyReason::LockerInClearOut),
        LockerState::Blocked | LockerState::Maintenance => return Err(DenyReason::LockerBlocked),
        LockerState::Available | LockerState::Assigned => {}
    }

    let own_assignment = ctx
        .assignment
        .filter(|assignment| assignment.user == ctx.subject.user)
        .filter(|assignment| assignment.locker == ctx.locker.id);
    let granting = match own_assignment {
        Some(assignment) => check_assignment(assignment, request.at, ctx)?,
        None => check_shared(request.at, ctx)?,
    };
    // A remote open proves less than standing at the door with a badge, so
    // a policy may demand a stronger sign-in for it.
    if request.method == OpenMethod::App
        && let Some(required) = newest(ctx.policies, granting)
            .and_then(|policy| policy.remote_open_auth_context.as_ref())
        && !request.auth_contexts.contains(required)
    {
        return Err(DenyReason::StepUpRequired);
    }
    Ok(())
}

fn newest<'a>(policies: &'a [AccessPolicy], id: &PolicyId) -> Option<&'a AccessPolicy> {
    policies
        .iter()
        .filter(|candidate| &candidate.id == id)
        .max_by_key(|candidate| candidate.version)
}

/// Returns the policy that grants the open.
fn check_assignment<'a>(
    assignment: &'a Assignment,
    at: OffsetDateTime,
    ctx: &DecisionContext<'_>,
) -> Result<&'a PolicyId, DenyReason> {
    if !assignment.is_current(at) {
        return Err(DenyReason::NotAssigned);
    }
    // During grace the user has lost the policy, so neither its entitlement
    // nor its time windows apply. The grace period is the only limit.
    if let Some(until) = assignment.grace_until {
        return if at < until {
            Ok(&assignment.policy)
        } else {
            Err(DenyReason::GraceExpired)
        };
    }

    let entitled = ctx.entitlements.iter().any(|entitlement| {
        entitlement.policy == assignment.policy && entitlement.scope.covers(ctx.locker)
    });
    if !entitled {
        return Err(DenyReason::NotEntitled);
    }
    match in_time_window(ctx.policies, &assignment.policy, at) {
        Some(true) => Ok(&assignment.policy),
        Some(false) => Err(DenyReason::OutsideTimeWindow),
        None => Err(DenyReason::NotEntitled),
    }
}

/// Allows a shared team locker to every user whose shared policy covers it.
/// Any other locker needs an assignment or booking.
fn check_shared<'a>(
    at: OffsetDateTime,
    ctx: &DecisionContext<'a>,
) -> Result<&'a PolicyId, DenyReason> {
    let covering: Vec<&Entitlement> = ctx
        .entitlements
        .iter()
        .filter(|entitlement| entitlement.scope.covers(ctx.locker))
        .collect();
    if covering.is_empty() {
        return Err(DenyReason::NotEntitled);
    }

    let shared: Vec<&Entitlement> = covering
        .into_iter()
        .filter(|entitlement| entitlement.mode == AssignmentMode::Shared)
        .filter(|_| ctx.locker.kind == LockerKind::Shared)
        .collect();
    if shared.is_empty() {
        return Err(DenyReason::NotAssigned);
    }

    let mut known_policy = false;
    for entitlement in shared {
        match in_time_window(ctx.policies, &entitlement.policy, at) {
            Some(true) => return Ok(&entitlement.policy),
            Some(false) => known_policy = true,
            None => {}
        }
    }
    if known_policy {
        Err(DenyReason::OutsideTimeWindow)
    } else {
        Err(DenyReason::NotEntitled)
    }
}

/// Returns whether the newest version of `policy` allows opens at `at`, or
/// `None` when the policy is not in `policies` any more.
fn in_time_window(
    policies: &[AccessPolicy],
    policy: &PolicyId,
    at: OffsetDateTime,
) -> Option<bool> {
    let newest = newest(policies, policy)?;
    if newest.when.is_empty() {
        return Some(true);
    }
    Some(newest.when.iter().any(|window| window.contains(at)))
}

#[cfg(test)]
mod tests;
