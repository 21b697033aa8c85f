//! Per-user access administration for the helpdesk: badges, PIN resets,
//! app tokens, what a user holds, and why an open would be denied.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lockgate_domain::access::decision::OpenMethod;
use lockgate_domain::access::model::LockerId;
use lockgate_store::{AuditDraft, BadgeRow};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminAuth, ApiJson, ApiQuery, Helpdesk};
use crate::AppState;
use crate::access::index::{AppToken, PinEntry, TenantIndex};
use crate::access::pin;
use crate::device::decision_body;
use crate::error::ApiFailure;

type TenantAndUser = Path<(String, String)>;

/// Finds a user by Lockgate id or, failing that, by user name.
pub(crate) fn resolve_user(index: &TenantIndex, reference: &str) -> Result<String, ApiFailure> {
    if index.users.contains_key(reference) {
        return Ok(reference.to_string());
    }
    index
        .users
        .iter()
        .find(|(_, entry)| entry.user_name.eq_ignore_ascii_case(reference))
        .map(|(id, _)| id.clone())
        .ok_or_else(|| {
            ApiFailure::not_found(format!(
                "user \"{reference}\" not found; give the Lockgate user id or the userName Entra provisioned"
            ))
        })
}

/// Resolves a user like [`resolve_user`]. A user SCIM created a moment ago
/// may not be in the index until the lifecycle engine applied the event,
/// so a miss waits for the engine once before it is final.
pub(crate) async fn known_user(
    state: &AppState,
    tenant_id: &str,
    reference: &str,
) -> Result<String, ApiFailure> {
    let tenant = state.access.tenant(tenant_id).await?;
    let found = resolve_user(&tenant.read(), reference);
    match found {
        Ok(user) => Ok(user),
        Err(_) => {
            state.access.settle(tenant_id).await?;
            resolve_user(&tenant.read(), reference)
        }
    }
}

fn audit(auth: &AdminAuth<Helpdesk>, action: &str, subject: &str, detail: Value) -> AuditDraft {
    AuditDraft {
        actor: auth.actor.clone(),
        source: AuditDraft::admin_source(&auth.actor),
        action: action.to_string(),
        subject: subject.to_string(),
        detail,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BadgeRequest {
    badge: String,
}

/// `POST /users/{user}/badges`: enrols a badge for the user.
pub(crate) async fn enroll_badge(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, user)): TenantAndUser,
    ApiJson(request): ApiJson<BadgeRequest>,
) -> Result<(StatusCode, Json<BadgeRow>), ApiFailure> {
    let badge = request.badge.trim().to_string();
    if badge.is_empty() || badge.len() > 128 {
        return Err(ApiFailure::bad_request(
            "badge must be the badge number as the reader sends it, 1 to 128 characters",
        ));
    }
    let user = known_user(&state, &auth.tenant.id, &user).await?;
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let draft = audit(&auth, "badge_enrolled", &user, json!({"badge": badge}));
    let row = state
        .store
        .tenant(&auth.tenant.id)
        .enroll_badge(&badge, &user, draft)
        .await?;
    tenant.write().badges.insert(badge, user);
    Ok((StatusCode::CREATED, Json(row)))
}

/// `DELETE /badges/{badge}`: the badge stops working at once.
pub(crate) async fn remove_badge(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, badge)): Path<(String, String)>,
) -> Result<StatusCode, ApiFailure> {
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let owner = tenant.read().badges.get(&badge).cloned();
    let draft = audit(&auth, "badge_removed", &badge, json!({"user": owner}));
    // The index forgets the badge first, so no open slips in while the
    // row is deleted.
    tenant.write().badges.remove(&badge);
    state
        .store
        .tenant(&auth.tenant.id)
        .remove_badge(&badge, draft)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PinRequest {
    pin: String,
}

/// `PUT /users/{user}/pin`: a helpdesk PIN reset; it also ends a lockout.
pub(crate) async fn reset_pin(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, user)): TenantAndUser,
    ApiJson(request): ApiJson<PinRequest>,
) -> Result<StatusCode, ApiFailure> {
    let user = known_user(&state, &auth.tenant.id, &user).await?;
    let draft = audit(&auth, "pin_reset", &user, json!({}));
    set_pin(&state, &auth.tenant.id, &user, request.pin, draft).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Validates, hashes and stores a PIN, then updates the index.
pub(crate) async fn set_pin(
    state: &AppState,
    tenant_id: &str,
    user: &str,
    pin_text: String,
    draft: AuditDraft,
) -> Result<(), ApiFailure> {
    pin::validate(&pin_text).map_err(ApiFailure::bad_request)?;
    let hash = pin::hash(pin_text)
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
    let tenant = state.access.tenant(tenant_id).await?;
    // A check still running for the old PIN would otherwise store its
    // failure count over the new PIN's.
    let _turn = tenant.pin_turns.take(user).await;
    state
        .store
        .tenant(tenant_id)
        .set_pin(user, &hash, draft)
        .await?;
    tenant.write().pins.insert(
        user.to_string(),
        PinEntry {
            hash,
            failures: 0,
            locked_until: None,
        },
    );
    Ok(())
}

/// `POST /users/{user}/app-tokens`: a bearer token for the app API, shown once.
pub(crate) async fn create_app_token(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, user)): TenantAndUser,
) -> Result<(StatusCode, Json<Value>), ApiFailure> {
    let user = known_user(&state, &auth.tenant.id, &user).await?;
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let user = {
        let index = tenant.read();
        if !index.users[&user].subject.active {
            return Err(ApiFailure::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "user \"{user}\" is inactive in the identity provider; enable them there first"
                ),
            ));
        }
        user
    };
    let draft = audit(&auth, "app_token_created", &user, json!({}));
    let (id, secret) = state
        .store
        .tenant(&auth.tenant.id)
        .create_user_token(&user, draft)
        .await?;
    tenant.write().user_tokens.insert(
        lockgate_store::user_token_hash(secret.expose()),
        AppToken {
            user: user.clone(),
            expires_at: None,
            auth_contexts: Vec::new(),
        },
    );
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "user": user, "token": secret.expose()})),
    ))
}

/// `GET /users/{user}/access`: what the user may use and holds now.
pub(crate) async fn access_summary(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, user)): TenantAndUser,
) -> Result<Json<Value>, ApiFailure> {
    let user = known_user(&state, &auth.tenant.id, &user).await?;
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let index = tenant.read();
    let entry = &index.users[&user];
    let lockers: Vec<Value> = index
        .assignments_of(&user)
        .iter()
        .map(|a| {
            json!({
                "locker": a.locker,
                "policy": a.policy,
                "ends_at": a.ends_at.map(crate::access::stored_time),
                "grace_until": a.grace_until.map(crate::access::stored_time),
            })
        })
        .collect();
    let badges: Vec<&String> = index
        .badges
        .iter()
        .filter(|(_, owner)| **owner == user)
        .map(|(badge, _)| badge)
        .collect();
    Ok(Json(json!({
        "user": user,
        "user_name": entry.user_name,
        "active": entry.subject.active,
        "deleted": entry.deleted,
        "policies": entry.entitlements.iter().map(|e| e.policy.as_str()).collect::<Vec<_>>(),
        "lockers": lockers,
        "badges": badges,
        "pin_set": index.pins.contains_key(&user),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainQuery {
    user: String,
    locker: String,
    #[serde(default)]
    method: Option<OpenMethod>,
}

/// `GET /explain?user=U&locker=L[&method=badge|pin|app]`: the decision an
/// open would get now and why, without opening or auditing anything.
pub(crate) async fn explain(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    ApiQuery(query): ApiQuery<ExplainQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let user = known_user(&state, &auth.tenant.id, &query.user).await?;
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let index = tenant.read();
    let locker = LockerId::new(&query.locker);
    if !index.lockers.contains_key(&locker) {
        return Err(ApiFailure::not_found(format!(
            "locker \"{}\" not found; list lockers with GET /lockers",
            query.locker
        )));
    }
    let method = query.method.unwrap_or(OpenMethod::Badge);
    let outcome = index.decide(&locker, Some(&user), method, state.access.now(), &[]);
    let mut body = decision_body(&outcome.decision, locker.as_str(), Some(&user));
    body["user"] = json!(user);
    body["policies"] = json!(
        index.users[&user]
            .entitlements
            .iter()
            .map(|e| e.policy.as_str())
            .collect::<Vec<_>>()
    );
    body["holder"] = json!(index.held.get(&locker).map(|h| h.assignment.user.as_str()));
    body["locker_state"] = json!(index.lockers[&locker].state);
    Ok(Json(body))
}
