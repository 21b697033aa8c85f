//! One open attempt from start to answer: find the user behind the badge,
//! PIN or app token, decide from the index, and audit the decision. An
//! allowed open is committed to the audit log before it is answered.

use lockgate_domain::access::decision::{Decision, DenyReason, OpenMethod};
use lockgate_domain::access::model::LockerId;
use lockgate_domain::audit::Actor;
use lockgate_store::{AuditDraft, StoreError};
use serde_json::json;

use super::{Access, pin};

/// The credential presented at the locker.
#[derive(Debug, Clone)]
pub(crate) enum Presented {
    Badge(String),
    /// A PIN typed at the door; it is checked against the locker's holder.
    Pin(String),
    /// A signed-in app user with the authentication contexts their sign-in
    /// satisfied.
    App {
        user: String,
        auth_contexts: Vec<String>,
    },
}

impl Presented {
    fn method(&self) -> OpenMethod {
        match self {
            Presented::Badge(_) => OpenMethod::Badge,
            Presented::Pin(_) => OpenMethod::Pin,
            Presented::App { .. } => OpenMethod::App,
        }
    }
}

pub(crate) struct OpenAttempt {
    pub locker: LockerId,
    pub presented: Presented,
    pub actor: Actor,
    pub source: String,
}

#[derive(Debug, Clone)]
pub(crate) struct OpenResult {
    pub decision: Decision,
    pub user: Option<String>,
}

impl OpenResult {
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self.decision {
            Decision::Allow => None,
            Decision::Deny(reason) => Some(reason),
        }
    }
}

impl Access {
    pub(crate) async fn open(
        &self,
        tenant_id: &str,
        attempt: OpenAttempt,
    ) -> Result<OpenResult, StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let method = attempt.presented.method();
        let user = match &attempt.presented {
            Presented::Badge(badge) => tenant.read().badges.get(badge).cloned(),
            Presented::App { user, .. } => Some(user.clone()),
            Presented::Pin(entered) => {
                match self.check_pin(tenant_id, &attempt.locker, entered).await? {
                    PinCheck::Holder(user) => Some(user),
                    PinCheck::NoHolder => None,
                    PinCheck::Wrong(user) => {
                        let result = OpenResult {
                            decision: Decision::Deny(DenyReason::WrongPin),
                            user: Some(user),
                        };
                        self.audit_decision(tenant_id, &attempt, &result).await?;
                        return Ok(result);
                    }
                }
            }
        };
        let contexts = match &attempt.presented {
            Presented::App { auth_contexts, .. } => auth_contexts.as_slice(),
            _ => &[],
        };
        // Read after a PIN check, which may have waited for the user's turn.
        let now = self.now();
        let outcome = tenant
            .read()
            .decide(&attempt.locker, user.as_deref(), method, now, contexts);
        let result = OpenResult {
            decision: outcome.decision,
            user: outcome.user,
        };
        self.audit_decision(tenant_id, &attempt, &result).await?;
        Ok(result)
    }

    async fn audit_decision(
        &self,
        tenant_id: &str,
        attempt: &OpenAttempt,
        result: &OpenResult,
    ) -> Result<(), StoreError> {
        let mut detail = json!({
            "user": result.user,
            "method": attempt.presented.method(),
        });
        if let Presented::Badge(badge) = &attempt.presented {
            detail["badge"] = json!(badge);
        }
        let action = match result.decision {
            Decision::Allow => "open_allowed",
            Decision::Deny(reason) => {
                detail["reason"] = json!(reason.code());
                "open_denied"
            }
        };
        let draft = AuditDraft {
            actor: attempt.actor.clone(),
            source: Some(attempt.source.clone()),
            action: action.to_string(),
            subject: attempt.locker.to_string(),
            detail,
        };
        match result.decision {
            Decision::Allow => self.audit().commit(tenant_id, draft).await,
            Decision::Deny(_) => {
                self.audit().record(tenant_id, draft);
                Ok(())
            }
        }
    }

    /// Checks a PIN against the holder of the locker, counting failures
    /// and locking the PIN after too many.
    async fn check_pin(
        &self,
        tenant_id: &str,
        locker: &LockerId,
        entered: &str,
    ) -> Result<PinCheck, StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let holder = tenant
            .read()
            .held
            .get(locker)
            .map(|h| h.assignment.user.to_string());
        let Some(holder) = holder else {
            return Ok(PinCheck::NoHolder);
        };
        // The failure count is read after the previous check of this PIN
        // has stored its own.
        let _turn = tenant.pin_turns.take(&holder).await;
        let now = self.now();
        let entry = tenant.read().pins.get(&holder).cloned();
        let Some(entry) = entry else {
            return Ok(PinCheck::NoHolder);
        };
        // A locked PIN is not checked at all, so guessing gains nothing;
        // the decision reports the lock.
        if entry.locked_until.is_some_and(|until| until > now) {
            return Ok(PinCheck::Holder(holder));
        }
        let matched = pin::verify(entered.to_string(), entry.hash.clone()).await;
        let (failures, locked_until) = pin::after_attempt(entry.failures, matched, now);
        if failures != entry.failures || locked_until.is_some() {
            let audit = locked_until.map(|until| AuditDraft {
                actor: lockgate_domain::audit::Actor::System,
                source: Some("pin".to_string()),
                action: "pin_locked".to_string(),
                subject: holder.clone(),
                detail: json!({"until": super::engine::stored(until), "failures": failures}),
            });
            self.inner
                .store
                .tenant(tenant_id)
                .record_pin_attempt(
                    &holder,
                    failures,
                    locked_until.map(super::engine::stored),
                    audit,
                )
                .await?;
            if let Some(pin) = tenant.write().pins.get_mut(&holder) {
                pin.failures = failures;
                pin.locked_until = locked_until;
            }
        }
        Ok(if matched {
            PinCheck::Holder(holder)
        } else {
            PinCheck::Wrong(holder)
        })
    }
}

enum PinCheck {
    Holder(String),
    NoHolder,
    Wrong(String),
}
