//! Turns planned lifecycle actions into the rows to write and the index
//! changes to make once they are committed.

use std::collections::HashSet;

use lockgate_domain::access::entitlement::Entitlement;
use lockgate_domain::access::lifecycle::{LifecycleAction, NotifyReason, Recipient};
use lockgate_domain::access::model::{Assignment, LockerId, LockerState};
use lockgate_domain::audit::Actor;
use lockgate_store::{AccessChanges, AssignmentRow, AuditDraft, BadgeSync, OutboxEntry};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::engine::stored;
use super::index::TenantIndex;

/// A change to the index, applied after its rows are committed.
#[derive(Debug, Clone)]
pub(crate) enum IndexOp {
    Hold(AssignmentRow),
    Release(LockerId),
    LockerState(LockerId, LockerState),
    Grace(LockerId, Option<OffsetDateTime>),
    RevokeTokens(String),
    ScimBadge {
        user: String,
        old: Option<String>,
        new: Option<String>,
    },
}

pub(crate) struct Translator {
    now: OffsetDateTime,
    changes: AccessChanges,
    ops: Vec<IndexOp>,
    taken: HashSet<LockerId>,
}

impl Translator {
    pub fn new(now: OffsetDateTime) -> Translator {
        Translator {
            now,
            changes: AccessChanges::default(),
            ops: Vec::new(),
            taken: HashSet::new(),
        }
    }

    pub fn finish(self) -> (AccessChanges, Vec<IndexOp>) {
        (self.changes, self.ops)
    }

    /// Whether this pass already gave the locker to someone.
    pub fn is_taken(&self, locker: &LockerId) -> bool {
        self.taken.contains(locker)
    }

    pub fn has_tokens(&self, index: &TenantIndex, user: &str) -> bool {
        index.user_tokens.values().any(|token| token.user == user)
    }

    fn audit(&mut self, action: &str, subject: &str, detail: Value) {
        self.changes.audit.push(AuditDraft {
            actor: Actor::System,
            source: Some("lifecycle".to_string()),
            action: action.to_string(),
            subject: subject.to_string(),
            detail,
        });
    }

    /// Ends the assignment on `locker` at an administrator's request. The
    /// locker may hold the holder's belongings, so it goes to clear-out,
    /// and the holder and facilities are notified.
    pub fn end_by_hand(&mut self, index: &TenantIndex, locker: &LockerId, actor: &Actor) {
        let Some(held) = index.held.get(locker) else {
            return;
        };
        let user = held.assignment.user.to_string();
        let reason = "ended_by_admin";

        self.changes.end.push((held.id.clone(), reason.to_string()));
        self.ops.push(IndexOp::Release(locker.clone()));
        self.changes
            .locker_states
            .push((locker.to_string(), "clear_out".to_string()));
        self.ops
            .push(IndexOp::LockerState(locker.clone(), LockerState::ClearOut));

        let source = AuditDraft::admin_source(actor);
        let records = [
            (
                "assignment_ended",
                json!({"user": user, "assignment": held.id, "reason": reason}),
            ),
            ("locker_clear_out", json!({"previous_user": user})),
        ];
        for (action, detail) in records {
            self.changes.audit.push(AuditDraft {
                actor: actor.clone(),
                source: source.clone(),
                action: action.to_string(),
                subject: locker.to_string(),
                detail,
            });
        }

        self.notify(index, &user, Recipient::Owner, NotifyReason::AccessEnded);
        if let Some(entry) = self.changes.outbox.last_mut() {
            entry.detail["locker"] = json!(locker);
            entry.detail["reason"] = json!(reason);
        }
        let clear_out = NotifyReason::ClearOutNeeded {
            locker: locker.clone(),
        };
        self.notify(index, &user, Recipient::Facilities, clear_out);
    }

    /// Ends bookings whose time is up.
    pub fn end_bookings(&mut self, index: &TenantIndex, lockers: &[LockerId]) {
        for locker in lockers {
            let Some(held) = index.held.get(locker) else {
                continue;
            };
            self.changes
                .end
                .push((held.id.clone(), "booking_ended".to_string()));
            self.ops.push(IndexOp::Release(locker.clone()));
            self.set_state(index, locker, LockerState::Available);
            let detail = json!({"user": held.assignment.user, "assignment": held.id});
            self.audit("booking_ended", locker.as_str(), detail);
        }
    }

    /// Records the actions planned for one user.
    pub fn apply_plan(
        &mut self,
        index: &TenantIndex,
        user: &str,
        before: &[Entitlement],
        held: &[Assignment],
        actions: Vec<LifecycleAction>,
    ) {
        let held_id = |locker: &LockerId| index.held.get(locker).map(|h| h.id.clone());
        let cleared: HashSet<LockerId> = actions
            .iter()
            .filter_map(|a| match a {
                LifecycleAction::ClearOut { locker } => Some(locker.clone()),
                _ => None,
            })
            .collect();
        for action in actions {
            match action {
                LifecycleAction::Assign { locker, policy } => {
                    let row = AssignmentRow {
                        id: uuid::Uuid::now_v7().to_string(),
                        locker_id: locker.to_string(),
                        user_id: user.to_string(),
                        policy_id: policy.to_string(),
                        starts_at: stored(self.now),
                        ends_at: None,
                        grace_until: None,
                    };
                    self.taken.insert(locker.clone());
                    self.changes
                        .locker_states
                        .push((locker.to_string(), "assigned".to_string()));
                    self.ops
                        .push(IndexOp::LockerState(locker.clone(), LockerState::Assigned));
                    self.ops.push(IndexOp::Hold(row.clone()));
                    let detail = json!({"user": user, "policy": policy, "assignment": row.id});
                    self.changes.assign.push(row);
                    self.audit("assignment_created", locker.as_str(), detail);
                }
                LifecycleAction::StartGrace { assignment, until } => {
                    if let Some(id) = held_id(&assignment) {
                        self.changes.grace.push((id, Some(stored(until))));
                        self.ops
                            .push(IndexOp::Grace(assignment.clone(), Some(until)));
                        let detail = json!({"user": user, "until": stored(until)});
                        self.audit("grace_started", assignment.as_str(), detail);
                    }
                }
                LifecycleAction::CancelGrace { assignment } => {
                    if let Some(id) = held_id(&assignment) {
                        self.changes.grace.push((id, None));
                        self.ops.push(IndexOp::Grace(assignment.clone(), None));
                        self.audit(
                            "grace_cancelled",
                            assignment.as_str(),
                            json!({"user": user}),
                        );
                    }
                }
                LifecycleAction::EndAssignment { assignment } => {
                    let Some(id) = held_id(&assignment) else {
                        continue;
                    };
                    let reason = if held
                        .iter()
                        .any(|a| a.locker == assignment && a.grace_until.is_some())
                    {
                        "grace_ended"
                    } else {
                        "entitlement_ended"
                    };
                    self.changes.end.push((id.clone(), reason.to_string()));
                    self.ops.push(IndexOp::Release(assignment.clone()));
                    if !cleared.contains(&assignment) {
                        self.set_state(index, &assignment, LockerState::Available);
                    }
                    let detail = json!({"user": user, "assignment": id, "reason": reason});
                    self.audit("assignment_ended", assignment.as_str(), detail);
                }
                LifecycleAction::ClearOut { locker } => {
                    self.changes
                        .locker_states
                        .push((locker.to_string(), "clear_out".to_string()));
                    self.ops
                        .push(IndexOp::LockerState(locker.clone(), LockerState::ClearOut));
                    self.audit(
                        "locker_clear_out",
                        locker.as_str(),
                        json!({"previous_user": user}),
                    );
                }
                LifecycleAction::RevokeCredentials => {
                    // Sessions and refresh tokens are not in the index, so
                    // the revocation is always written; it is audited when
                    // the user had app tokens to lose.
                    self.changes.revoke_tokens.push(user.to_string());
                    if self.has_tokens(index, user) {
                        self.ops.push(IndexOp::RevokeTokens(user.to_string()));
                        self.audit("app_tokens_revoked", user, json!({}));
                    }
                }
                LifecycleAction::Notify {
                    reason: NotifyReason::NoFreeLocker { policy },
                    ..
                } if before.iter().any(|e| e.policy == policy) => {
                    // Facilities heard about this user when the entitlement
                    // appeared; every later re-plan would repeat it.
                }
                LifecycleAction::Notify { to, reason } => self.notify(index, user, to, reason),
            }
        }
    }

    fn set_state(&mut self, index: &TenantIndex, locker: &LockerId, state: LockerState) {
        // Only an assigned locker is returned to the pool; a blocked one
        // stays blocked.
        if index.lockers.get(locker).map(|l| l.state) == Some(LockerState::Assigned) {
            let text = serde_json::to_value(state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            self.changes.locker_states.push((locker.to_string(), text));
            self.ops.push(IndexOp::LockerState(locker.clone(), state));
        }
    }

    fn notify(&mut self, index: &TenantIndex, user: &str, to: Recipient, reason: NotifyReason) {
        let entry = index.users.get(user);
        let mut detail = json!({
            "user_name": entry.map(|e| e.user_name.clone()),
            "display_name": entry.and_then(|e| e.display_name.clone()),
        });
        let recipient = match to {
            Recipient::Owner => "owner",
            Recipient::Facilities => "facilities",
            Recipient::Manager => {
                // Without a manager in SCIM there is no one to tell.
                let Some(manager) = entry.and_then(|e| e.manager.clone()) else {
                    return;
                };
                detail["manager"] = json!(manager);
                "manager"
            }
        };
        let kind = match &reason {
            NotifyReason::LockerAssigned { locker } => {
                detail["locker"] = json!(locker);
                "locker_assigned"
            }
            NotifyReason::GraceStarted { locker, until } => {
                detail["locker"] = json!(locker);
                detail["until"] = json!(stored(*until));
                "grace_started"
            }
            NotifyReason::AccessEnded => "access_ended",
            NotifyReason::ClearOutNeeded { locker } => {
                detail["locker"] = json!(locker);
                "clear_out_needed"
            }
            NotifyReason::NoFreeLocker { policy } => {
                detail["policy"] = json!(policy);
                "no_free_locker"
            }
        };
        self.changes.outbox.push(OutboxEntry {
            recipient: recipient.to_string(),
            user_id: user.to_string(),
            kind: kind.to_string(),
            detail,
        });
    }

    /// Brings SCIM-sourced badges in line with the badge attribute of the
    /// refreshed users. A number already held by another user is left with
    /// them and the conflict is audited, so the helpdesk can resolve it.
    pub fn sync_badges<'a>(
        &mut self,
        index: &TenantIndex,
        users: impl Iterator<Item = &'a String>,
    ) {
        for user in users {
            let Some(entry) = index.users.get(user) else {
                continue;
            };
            let current = entry.stored_scim_badge.clone();
            let wanted = entry.scim_badge.clone();
            if current == wanted {
                continue;
            }
            // The helpdesk enrolled this number for the same user, so the
            // SCIM copy is not stored (the badge table keeps one row per
            // number) and there is nothing to change or record again.
            if current.is_none()
                && let Some(badge) = &wanted
                && index.badges.get(badge).is_some_and(|owner| owner == user)
            {
                continue;
            }
            if let Some(badge) = &wanted
                && let Some(owner) = index.badges.get(badge).filter(|owner| *owner != user)
            {
                let detail = json!({"user": user, "held_by": owner});
                self.audit("badge_conflict", badge, detail);
                continue;
            }
            // The identity event names the changed attribute but not its
            // value, so the badge numbers are audited here.
            let detail = json!({"badge": wanted, "previous": current});
            self.audit("scim_badge_changed", user, detail);
            self.changes.badges.push(BadgeSync {
                user_id: user.clone(),
                badge_id: wanted.clone(),
            });
            self.ops.push(IndexOp::ScimBadge {
                user: user.clone(),
                old: current,
                new: wanted,
            });
        }
    }
}

impl TenantIndex {
    /// Applies committed changes.
    pub(crate) fn apply(&mut self, ops: Vec<IndexOp>) {
        for op in ops {
            match op {
                IndexOp::Hold(row) => self.hold(&row),
                IndexOp::Release(locker) => self.release(&locker),
                IndexOp::LockerState(locker, state) => {
                    if let Some(entry) = self.lockers.get_mut(&locker) {
                        entry.state = state;
                    }
                }
                IndexOp::Grace(locker, until) => {
                    if let Some(held) = self.held.get_mut(&locker) {
                        held.assignment.grace_until = until;
                    }
                }
                IndexOp::RevokeTokens(user) => {
                    self.user_tokens.retain(|_, token| token.user != user)
                }
                IndexOp::ScimBadge { user, old, new } => {
                    if let Some(old) = old
                        && self.badges.get(&old) == Some(&user)
                    {
                        self.badges.remove(&old);
                    }
                    if let Some(new) = &new {
                        self.badges.insert(new.clone(), user.clone());
                    }
                    if let Some(entry) = self.users.get_mut(&user) {
                        entry.stored_scim_badge = new;
                    }
                }
            }
        }
    }
}
