use time::Duration;
use time::macros::datetime;

use super::*;
use crate::access::model::LockerState::{Assigned, Blocked, ClearOut, Maintenance};
use crate::access::testkit::{NOW, assignment, entitlement, fixed_policy, locker, policy, subject};
use crate::access::window::{TimeWindow, WeekdaySet};

/// One open attempt with everything it is decided from, so each test
/// changes only the part its rule is about.
struct Case {
    subject: Subject,
    locker: Locker,
    assignment: Option<Assignment>,
    policies: Vec<AccessPolicy>,
    entitlements: Vec<Entitlement>,
    pin_locked: bool,
    request: OpenRequest,
}

impl Case {
    /// User u1 holds personal locker L1 under a fixed policy.
    fn owner() -> Case {
        let granting = fixed_policy("p", "nurses");
        Case {
            subject: subject("u1", &["nurses"]),
            locker: locker("L1", LockerKind::Personal, Assigned),
            assignment: Some(assignment("L1", "u1", "p")),
            entitlements: vec![entitlement(&granting)],
            policies: vec![granting],
            pin_locked: false,
            request: OpenRequest {
                user: Some(UserId::new("u1")),
                locker: LockerId::new("L1"),
                method: OpenMethod::Badge,
                at: NOW,
                auth_contexts: Vec::new(),
            },
        }
    }

    /// User u1 has no booking but a shared policy covering shared locker L1.
    fn team_member() -> Case {
        let team = policy("p-team", "nurses", AssignmentMode::Shared);
        Case {
            locker: locker("L1", LockerKind::Shared, Assigned),
            assignment: None,
            entitlements: vec![entitlement(&team)],
            policies: vec![team],
            ..Case::owner()
        }
    }

    fn decide(&self) -> Decision {
        let ctx = DecisionContext {
            subject: &self.subject,
            locker: &self.locker,
            assignment: self.assignment.as_ref(),
            entitlements: &self.entitlements,
            policies: &self.policies,
            pin_locked: self.pin_locked,
        };
        decide(&self.request, &ctx)
    }
}

fn office_hours() -> Vec<TimeWindow> {
    vec![TimeWindow {
        days: WeekdaySet::WORKDAYS,
        start: 8 * 60,
        end: 18 * 60,
        utc_offset_minutes: 0,
    }]
}

const SATURDAY_NOON: OffsetDateTime = datetime!(2026-12-12 12:00 UTC);

#[test]
fn owner_is_allowed() {
    assert_eq!(Case::owner().decide(), Decision::Allow);
}

#[test]
fn unknown_credential_denied() {
    let mut unmatched = Case::owner();
    unmatched.request.user = None;
    assert_eq!(
        unmatched.decide(),
        Decision::Deny(DenyReason::UnknownCredential)
    );

    let mut other_user = Case::owner();
    other_user.request.user = Some(UserId::new("u2"));
    assert_eq!(
        other_user.decide(),
        Decision::Deny(DenyReason::UnknownCredential)
    );
}

#[test]
fn context_for_other_locker_denied() {
    let mut case = Case::owner();
    case.request.locker = LockerId::new("L2");
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotEntitled));
}

#[test]
fn inactive_user_denied() {
    let mut case = Case::owner();
    case.subject.active = false;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::InactiveUser));
}

#[test]
fn inactive_outranks_pin_lock() {
    let mut case = Case::owner();
    case.subject.active = false;
    case.pin_locked = true;
    case.request.method = OpenMethod::Pin;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::InactiveUser));
}

#[test]
fn pin_lock_blocks_only_pin() {
    let mut case = Case::owner();
    case.pin_locked = true;
    case.request.method = OpenMethod::Pin;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::PinLocked));

    case.request.method = OpenMethod::Badge;
    assert_eq!(case.decide(), Decision::Allow);
    case.request.method = OpenMethod::App;
    assert_eq!(case.decide(), Decision::Allow);
}

#[test]
fn clear_out_locker_denied() {
    let mut case = Case::owner();
    case.locker.state = ClearOut;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::LockerInClearOut));
}

#[test]
fn blocked_locker_denied() {
    for state in [Blocked, Maintenance] {
        let mut case = Case::owner();
        case.locker.state = state;
        assert_eq!(
            case.decide(),
            Decision::Deny(DenyReason::LockerBlocked),
            "{state:?}"
        );
    }
}

#[test]
fn no_covering_policy_not_entitled() {
    let mut case = Case::owner();
    case.assignment = None;
    std::sync::Arc::make_mut(&mut case.entitlements[0].scope).kinds = vec![LockerKind::Flex];
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotEntitled));
}

#[test]
fn assignment_without_entitlement_not_entitled() {
    let mut case = Case::owner();
    case.entitlements.clear();
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotEntitled));
}

#[test]
fn entitled_without_assignment_not_assigned() {
    let mut case = Case::owner();
    case.assignment = None;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotAssigned));
}

#[test]
fn other_users_locker_not_assigned() {
    let mut case = Case::owner();
    case.assignment = Some(assignment("L1", "u2", "p"));
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotAssigned));
}

#[test]
fn booking_outside_its_period_not_assigned() {
    let mut ended = Case::owner();
    let booking = ended
        .assignment
        .as_mut()
        .expect("owner case has an assignment");
    booking.ends_at = Some(NOW);
    assert_eq!(ended.decide(), Decision::Deny(DenyReason::NotAssigned));

    let mut future = Case::owner();
    let booking = future
        .assignment
        .as_mut()
        .expect("owner case has an assignment");
    booking.starts_at = NOW + Duration::minutes(1);
    assert_eq!(future.decide(), Decision::Deny(DenyReason::NotAssigned));
}

#[test]
fn outside_time_window_denied() {
    let mut case = Case::owner();
    case.policies[0].when = office_hours();
    assert_eq!(case.decide(), Decision::Allow);

    case.request.at = SATURDAY_NOON;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::OutsideTimeWindow));
}

#[test]
fn newest_policy_version_sets_window() {
    let mut case = Case::owner();
    let mut newer = case.policies[0].clone();
    newer.version = 2;
    newer.when = office_hours();
    case.policies.push(newer);
    case.request.at = SATURDAY_NOON;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::OutsideTimeWindow));
}

#[test]
fn removed_policy_not_entitled() {
    let mut case = Case::owner();
    case.policies.clear();
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotEntitled));
}

#[test]
fn grace_allows_until_it_ends() {
    let mut case = Case::owner();
    case.entitlements.clear();
    let held = case
        .assignment
        .as_mut()
        .expect("owner case has an assignment");
    held.grace_until = Some(NOW + Duration::hours(1));
    assert_eq!(case.decide(), Decision::Allow);

    case.request.at = NOW + Duration::hours(1);
    assert_eq!(case.decide(), Decision::Deny(DenyReason::GraceExpired));
}

#[test]
fn shared_locker_opens_without_booking() {
    assert_eq!(Case::team_member().decide(), Decision::Allow);
}

#[test]
fn shared_policy_needs_shared_locker() {
    let mut case = Case::team_member();
    case.locker.kind = LockerKind::Personal;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotAssigned));
}

#[test]
fn shared_locker_outside_window() {
    let mut case = Case::team_member();
    case.policies[0].when = office_hours();
    case.request.at = SATURDAY_NOON;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::OutsideTimeWindow));
}

#[test]
fn reason_codes_unique_and_stable() {
    let reasons = [
        DenyReason::NotEntitled,
        DenyReason::InactiveUser,
        DenyReason::OutsideTimeWindow,
        DenyReason::LockerInClearOut,
        DenyReason::LockerBlocked,
        DenyReason::UnknownCredential,
        DenyReason::PinLocked,
        DenyReason::NotAssigned,
        DenyReason::GraceExpired,
    ];
    let mut codes: Vec<&str> = reasons.iter().map(DenyReason::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), reasons.len());

    for reason in reasons {
        let serialized = serde_json::to_value(reason).expect("reason serializes");
        assert_eq!(serialized, reason.code());
        assert!(reason.explanation().ends_with('.'), "{reason:?}");
        assert!(reason.to_string().starts_with(reason.code()));
    }
}

#[test]
fn remote_open_needs_step_up() {
    let mut case = Case::owner();
    case.policies[0].remote_open_auth_context = Some("c1".to_string());
    // At the door a badge needs no step-up.
    assert_eq!(case.decide(), Decision::Allow);

    case.request.method = OpenMethod::App;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::StepUpRequired));
    case.request.auth_contexts = vec!["c2".to_string()];
    assert_eq!(case.decide(), Decision::Deny(DenyReason::StepUpRequired));
    case.request.auth_contexts = vec!["c2".to_string(), "c1".to_string()];
    assert_eq!(case.decide(), Decision::Allow);
}

#[test]
fn step_up_checked_after_entitlement() {
    // A user who may not open the locker at all is told so, not asked to
    // sign in again.
    let mut case = Case::owner();
    case.policies[0].remote_open_auth_context = Some("c1".to_string());
    case.request.method = OpenMethod::App;
    case.entitlements.clear();
    assert_eq!(case.decide(), Decision::Deny(DenyReason::NotEntitled));
}

#[test]
fn shared_locker_step_up_follows_its_policy() {
    let mut case = Case::team_member();
    case.policies[0].remote_open_auth_context = Some("c3".to_string());
    case.request.method = OpenMethod::App;
    assert_eq!(case.decide(), Decision::Deny(DenyReason::StepUpRequired));
    case.request.auth_contexts = vec!["c3".to_string()];
    assert_eq!(case.decide(), Decision::Allow);
}
