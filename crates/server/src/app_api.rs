//! The JSON API for locker users (the mobile app): open a locker, book a
//! flex locker, read what they hold, set their PIN. A user authenticates
//! with a bearer token issued by the helpdesk.
// NOTE: tokens come from the admin API until single sign-on issues them.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lockgate_domain::access::decision::DenyReason;
use lockgate_domain::access::entitlement::Entitlement;
use lockgate_domain::access::model::{Locker, LockerId, LockerKind, LockerState};
use lockgate_domain::access::policy::AssignmentMode;
use lockgate_domain::audit::Actor;
use lockgate_store::{AuditDraft, Booking, NewBooking, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Duration;

use crate::AppState;
use crate::access::index::TenantIndex;
use crate::access::open::{OpenAttempt, Presented};
use crate::access::stored_time;
use crate::admin::{ApiJson, bearer};
use crate::device::decision_body;
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/me", get(me))
        .route("/{tenant}/opens", post(open))
        .route("/{tenant}/bookings", post(book))
        .route("/{tenant}/pin", put(set_pin))
}

/// A signed-in locker user.
pub(crate) struct AppUser {
    tenant_id: String,
    user: String,
    auth_contexts: Vec<String>,
}

impl FromRequestParts<AppState> for AppUser {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let unauthorized = || {
            ApiFailure::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send your app token as `Authorization: Bearer <token>`; the helpdesk issues one",
            )
        };
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| unauthorized())?;
        let slug = params
            .iter()
            .find(|(name, _)| name == "tenant")
            .map(|(_, value)| value.clone())
            .ok_or_else(unauthorized)?;
        let token = bearer(parts).ok_or_else(unauthorized)?;
        let tenant = state.tenant(&slug).await?.ok_or_else(unauthorized)?;
        let access = state.access.tenant(&tenant.id).await?;
        let hash = lockgate_store::user_token_hash(token);
        let now = state.access.now();
        let (user, auth_contexts) = {
            let index = access.read();
            let token = index
                .user_tokens
                .get(&hash)
                .filter(|t| t.expires_at.is_none_or(|end| end > now))
                .ok_or_else(unauthorized)?;
            // Access ends the moment the user is disabled, before the
            // engine has revoked the token.
            let active = index
                .users
                .get(&token.user)
                .is_some_and(|entry| entry.subject.active);
            if !active {
                return Err(unauthorized());
            }
            (token.user.clone(), token.auth_contexts.clone())
        };
        Ok(AppUser {
            tenant_id: tenant.id,
            user,
            auth_contexts,
        })
    }
}

/// `GET /app/v1/{tenant}/me`: the user's lockers and policies.
async fn me(State(state): State<AppState>, user: AppUser) -> Result<Json<Value>, ApiFailure> {
    let tenant = state.access.tenant(&user.tenant_id).await?;
    let index = tenant.read();
    let entry = index
        .users
        .get(&user.user)
        .ok_or_else(|| ApiFailure::not_found("your user was not found; sign in again"))?;
    let lockers: Vec<Value> = index
        .assignments_of(&user.user)
        .iter()
        .map(|a| {
            let locker = index.lockers.get(&a.locker);
            json!({
                "locker": a.locker,
                "bank": locker.map(|l| l.bank.as_str()),
                "door": index.door_of.get(&a.locker),
                "ends_at": a.ends_at.map(stored_time),
                "grace_until": a.grace_until.map(stored_time),
            })
        })
        .collect();
    Ok(Json(json!({
        "user": user.user,
        "user_name": entry.user_name,
        "active": entry.subject.active,
        "policies": entry.entitlements.iter().map(|e| e.policy.as_str()).collect::<Vec<_>>(),
        "lockers": lockers,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    locker: String,
}

/// `POST /app/v1/{tenant}/opens`: opens a locker from the app.
async fn open(
    State(state): State<AppState>,
    user: AppUser,
    ApiJson(request): ApiJson<OpenRequest>,
) -> Result<Json<Value>, ApiFailure> {
    let tenant = state.access.tenant(&user.tenant_id).await?;
    let locker = LockerId::new(&request.locker);
    if !tenant.read().lockers.contains_key(&locker) {
        return Err(ApiFailure::not_found(format!(
            "locker \"{}\" not found; GET /me lists your lockers",
            request.locker
        )));
    }
    let attempt = OpenAttempt {
        locker: locker.clone(),
        presented: Presented::App {
            user: user.user.clone(),
            auth_contexts: user.auth_contexts.clone(),
        },
        actor: Actor::User(user.user.clone()),
        source: "app".to_string(),
    };
    let result = state.access.open(&user.tenant_id, attempt).await?;
    let mut body = decision_body(&result.decision, locker.as_str(), result.user.as_deref());
    if result.deny_reason() == Some(DenyReason::StepUpRequired) {
        // Tells the app which authentication context to ask for at
        // `/oauth/{tenant}/authorize?...&auth_context=...`.
        let index = tenant.read();
        let required = index.users.get(&user.user).and_then(|entry| {
            entry.entitlements.iter().find_map(|e| {
                index
                    .policies
                    .iter()
                    .find(|p| p.id == e.policy)
                    .and_then(|p| p.remote_open_auth_context.clone())
            })
        });
        body["auth_context"] = json!(required);
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingRequest {
    hours: u32,
    #[serde(default)]
    bank: Option<String>,
    #[serde(default)]
    zone: Option<String>,
}

/// Rejects a bank or zone that does not exist or that the policy does not
/// let the user book in, so a typo does not look like a full bank.
fn check_booking_place(
    index: &TenantIndex,
    entitlement: &Entitlement,
    request: &BookingRequest,
) -> Result<(), ApiFailure> {
    if let Some(bank) = &request.bank {
        check_place(index, entitlement, "bank", bank, |locker| {
            locker.bank.as_str()
        })?;
    }
    if let Some(zone) = &request.zone {
        check_place(index, entitlement, "zone", zone, |locker| {
            locker.zone.as_str()
        })?;
    }
    Ok(())
}

/// Checks one place filter: `place_of` reads the locker's bank or zone.
fn check_place(
    index: &TenantIndex,
    entitlement: &Entitlement,
    kind: &str,
    name: &str,
    place_of: fn(&Locker) -> &str,
) -> Result<(), ApiFailure> {
    let mut lockers = index
        .lockers
        .values()
        .filter(|locker| place_of(locker) == name)
        .peekable();
    if lockers.peek().is_none() {
        return Err(ApiFailure::not_found(format!(
            "{kind} \"{name}\" not found; leave {kind} out to book anywhere your policy allows"
        )));
    }
    let bookable =
        lockers.any(|locker| locker.kind == LockerKind::Flex && entitlement.scope.covers(locker));
    if !bookable {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "your policy does not let you book flex lockers in {kind} \"{name}\"; \
                 leave {kind} out to book anywhere it allows"
            ),
        ));
    }
    Ok(())
}

/// `POST /app/v1/{tenant}/bookings`: books a free flex locker. Concurrent
/// requests for the last lockers each get a different locker or a 409.
async fn book(
    State(state): State<AppState>,
    user: AppUser,
    ApiJson(request): ApiJson<BookingRequest>,
) -> Result<(StatusCode, Json<Value>), ApiFailure> {
    let tenant = state.access.tenant(&user.tenant_id).await?;
    let (policy, quota, max_hours, candidates) = {
        let index = tenant.read();
        let entry = index
            .users
            .get(&user.user)
            .filter(|e| e.subject.active)
            .ok_or_else(|| {
                ApiFailure::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "your account is inactive",
                )
            })?;
        let flex = entry.entitlements.iter().find_map(|e| match e.mode {
            AssignmentMode::Flex { max_booking } => Some((e, max_booking)),
            _ => None,
        });
        let Some((entitlement, max_booking)) = flex else {
            return Err(ApiFailure::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "no policy lets you book flex lockers; ask your facility manager",
            ));
        };
        check_booking_place(&index, entitlement, &request)?;
        let mut candidates: Vec<&LockerId> = index
            .lockers
            .values()
            .filter(|l| l.kind == LockerKind::Flex && l.state == LockerState::Available)
            .filter(|l| entitlement.scope.covers(l))
            .filter(|l| request.bank.as_ref().is_none_or(|b| l.bank.as_str() == b))
            .filter(|l| request.zone.as_ref().is_none_or(|z| l.zone.as_str() == z))
            .filter(|l| !index.held.contains_key(&l.id))
            .map(|l| &l.id)
            .collect();
        candidates.sort_by(|a, b| a.door_order(b));
        let candidates: Vec<String> = candidates
            .into_iter()
            .take(64)
            .map(|id| id.to_string())
            .collect();
        (
            entitlement.policy.clone(),
            entitlement.quota,
            max_booking.whole_hours(),
            candidates,
        )
    };
    if request.hours == 0 || i64::from(request.hours) > max_hours {
        return Err(ApiFailure::bad_request(format!(
            "hours {} is out of range; your policy allows bookings of 1 to {max_hours} hours",
            request.hours
        )));
    }
    let ends_at = stored_time(state.access.now() + Duration::hours(i64::from(request.hours)));
    let audit = AuditDraft {
        actor: Actor::User(user.user.clone()),
        source: Some("app".to_string()),
        action: "booking_created".to_string(),
        subject: String::new(),
        detail: json!({"user": user.user, "policy": policy}),
    };
    // The booking and its index update run as their own task, so a dropped
    // request (client gone, timeout) cannot leave a committed booking out of
    // the index, where its holder would be denied until the next reload.
    let store = state.store.tenant(&user.tenant_id);
    let new_booking = NewBooking {
        user_id: user.user.clone(),
        policy_id: policy.to_string(),
        quota,
        ends_at,
    };
    let booking = tokio::spawn(async move {
        let booked = store.book(new_booking, candidates, audit).await?;
        if let Booking::Booked(row) = &booked {
            tenant
                .after_commit(|index| {
                    index.hold(row);
                    if let Some(locker) = index.lockers.get_mut(&LockerId::new(&row.locker_id)) {
                        locker.state = LockerState::Assigned;
                    }
                })
                .await;
        }
        Ok::<_, StoreError>(booked)
    });
    let booked = booking
        .await
        .map_err(|err| StoreError::Internal(format!("the booking task failed: {err}")))??;
    let row = match booked {
        Booking::Booked(row) => row,
        Booking::QuotaReached { held } => {
            return Err(ApiFailure::new(
                StatusCode::CONFLICT,
                "quota_reached",
                format!("you already hold {held} of the {quota} lockers your policy allows"),
            ));
        }
        Booking::NoFreeLocker => {
            return Err(ApiFailure::new(
                StatusCode::CONFLICT,
                "no_free_locker",
                "every flex locker you may book is taken; try another bank or later",
            ));
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({"assignment": row.id, "locker": row.locker_id, "ends_at": row.ends_at})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinRequest {
    pin: String,
}

/// `PUT /app/v1/{tenant}/pin`: the user chooses their PIN.
async fn set_pin(
    State(state): State<AppState>,
    user: AppUser,
    ApiJson(request): ApiJson<PinRequest>,
) -> Result<StatusCode, ApiFailure> {
    let draft = AuditDraft {
        actor: Actor::User(user.user.clone()),
        source: Some("app".to_string()),
        action: "pin_set".to_string(),
        subject: user.user.clone(),
        detail: json!({}),
    };
    crate::admin::set_pin(&state, &user.tenant_id, &user.user, request.pin, draft).await?;
    Ok(StatusCode::NO_CONTENT)
}
