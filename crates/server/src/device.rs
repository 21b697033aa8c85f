//! The device API: locker bank controllers ask whether a badge, PIN or
//! other credential may open a door. A controller's token names its bank,
//! so it can only ask about its own doors.

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lockgate_domain::access::decision::{Decision, DenyReason};
use lockgate_domain::audit::Actor;
use lockgate_store::CredentialKind;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::open::{OpenAttempt, Presented};
use crate::admin::{ApiJson, bearer};
use crate::error::ApiFailure;

/// Failed credentials (unknown badges, wrong PINs) one bank may present
/// per minute before it has to wait. A new PIN check also waits while
/// failures and running checks together reach it.
pub const GUESSES_PER_MINUTE: u32 = 20;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/decisions", post(decide))
}

/// A request from an authenticated bank controller.
pub(crate) struct DeviceAuth {
    pub tenant_id: String,
    pub bank: String,
    pub credential_id: String,
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let unauthorized = || {
            ApiFailure::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the bank's device token as `Authorization: Bearer <token>`; \
                 a revoked token is refused too, so create a new one with \
                 `lockgate device-token create TENANT --bank BANK`",
            )
        };
        let token = bearer(parts).ok_or_else(unauthorized)?;
        let auth = state
            .store
            .authenticate_token(CredentialKind::DeviceToken, token)
            .await?
            .ok_or_else(unauthorized)?;
        Ok(DeviceAuth {
            tenant_id: auth.tenant_id,
            bank: auth.scope.unwrap_or_default(),
            credential_id: auth.credential_id,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    bank: String,
    door: String,
    credential: CredentialDocument,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum CredentialDocument {
    Badge { id: String },
    Pin { pin: String },
}

/// `POST /device/v1/decisions`: allow or deny, with a reason code.
async fn decide(
    State(state): State<AppState>,
    device: DeviceAuth,
    ApiJson(request): ApiJson<DecisionRequest>,
) -> Result<Response, ApiFailure> {
    if request.bank != device.bank {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this device token belongs to bank \"{}\", not \"{}\"; each controller asks about its own doors",
                device.bank, request.bank
            ),
        ));
    }
    let presented = match request.credential {
        CredentialDocument::Badge { id } if !id.trim().is_empty() => Presented::Badge(id),
        CredentialDocument::Pin { pin } if !pin.is_empty() => Presented::Pin(pin),
        _ => {
            return Err(ApiFailure::bad_request(
                "credential is empty; send {\"type\": \"badge\", \"id\": \"...\"} or {\"type\": \"pin\", \"pin\": \"...\"}",
            ));
        }
    };
    let limit_key = format!("{}:{}", device.tenant_id, device.bank);
    // A PIN check waits for argon2, long enough for a burst of guesses to
    // start before the first has failed, so it takes a place while it runs.
    // A badge is looked up without waiting, and it waits only for failures.
    let pin_attempt = match presented {
        Presented::Pin(_) => match state.guesses.begin(&limit_key) {
            Ok(attempt) => Some(attempt),
            Err(wait) => return Ok(too_many(wait)),
        },
        _ => {
            if let Some(wait) = state.guesses.blocked(&limit_key) {
                return Ok(too_many(wait));
            }
            None
        }
    };
    let tenant = state.access.tenant(&device.tenant_id).await?;
    let locker = tenant
        .read()
        .locker_at(&request.bank, &request.door)
        .cloned()
        .ok_or_else(|| {
            ApiFailure::not_found(format!(
                "bank \"{}\" has no door \"{}\"; import the bank's lockers first",
                request.bank, request.door
            ))
        })?;
    let attempt = OpenAttempt {
        locker: locker.clone(),
        presented,
        actor: Actor::Device(device.credential_id),
        source: format!("device:{}:{}", request.bank, request.door),
    };
    let result = state.access.open(&device.tenant_id, attempt).await?;
    if matches!(
        result.deny_reason(),
        Some(DenyReason::UnknownCredential | DenyReason::WrongPin)
    ) {
        match pin_attempt {
            Some(attempt) => attempt.failed(),
            None => state.guesses.fail(&limit_key),
        }
    }
    Ok(Json(decision_body(
        &result.decision,
        locker.as_str(),
        result.user.as_deref(),
    ))
    .into_response())
}

/// The JSON a decision is answered with.
pub(crate) fn decision_body(decision: &Decision, locker: &str, user: Option<&str>) -> Value {
    match decision {
        Decision::Allow => json!({"decision": "allow", "locker": locker, "user": user}),
        Decision::Deny(reason) => json!({
            "decision": "deny",
            "reason": reason.code(),
            "explanation": reason.explanation(),
            "locker": locker,
        }),
    }
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let body = json!({
        "error": "rate_limited",
        "detail": format!(
            "too many unknown badges or wrong PINs at this bank; try again in {seconds} seconds"
        ),
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}
