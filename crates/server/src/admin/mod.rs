//! The admin API under `/admin/v1/tenants/{tenant}`. Requests authenticate
//! with an admin token of the tenant or a signed-in browser session, and
//! every handler names the least role it needs as [`AdminAuth<Role>`] in
//! its signature (see `auth.rs`). The provisioning log also accepts the
//! tenant's SCIM credentials, since whoever holds them already controls
//! its identities.

mod audit;
pub(crate) mod auth;
mod device_tokens;
mod lifecycle;
mod people;
pub(crate) use people::set_pin;

pub(crate) use auth::{AdminAuth, Auditor, FacilityManager, Helpdesk, TenantAdmin, bearer};
mod physical;
mod places;
mod policies;
mod provisioning_log;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tenants/{tenant}/provisioning-log",
            axum::routing::get(provisioning_log::provisioning_log),
        )
        .route(
            "/tenants/{tenant}/audit",
            axum::routing::get(audit::audit_records),
        )
        .route(
            "/tenants/{tenant}/audit/verify",
            axum::routing::get(audit::verify),
        )
        .merge(physical::router())
        .merge(device_tokens::router())
        .merge(places::router())
        .merge(access_router())
}

fn access_router() -> Router<AppState> {
    use axum::routing::{delete, get, post, put};
    let tenant = |path: &str| format!("/tenants/{{tenant}}{path}");
    Router::new()
        .route(&tenant("/policies"), get(policies::list))
        .route(
            &tenant("/policies/{policy}"),
            get(policies::versions).put(policies::save),
        )
        .route(&tenant("/policies/{policy}/retire"), post(policies::retire))
        .route(
            &tenant("/policies/{policy}/preview"),
            post(policies::preview),
        )
        .route(&tenant("/users/{user}/badges"), post(people::enroll_badge))
        .route(&tenant("/badges/{badge}"), delete(people::remove_badge))
        .route(&tenant("/users/{user}/pin"), put(people::reset_pin))
        .route(
            &tenant("/users/{user}/app-tokens"),
            post(people::create_app_token),
        )
        .route(&tenant("/users/{user}/access"), get(people::access_summary))
        .route(&tenant("/explain"), get(people::explain))
        .route(&tenant("/assignments"), get(lifecycle::assignments))
        .route(
            &tenant("/assignments/{assignment}/end"),
            post(lifecycle::end_assignment),
        )
        .route(&tenant("/outbox"), get(lifecycle::outbox))
        .route(
            &tenant("/identity-connection"),
            get(crate::sso::connection::get).put(crate::sso::connection::put),
        )
        .route(
            &tenant("/settings"),
            get(lifecycle::settings).put(lifecycle::save_settings),
        )
}

/// A JSON request body whose rejection is a JSON error naming the problem
/// (the field and position serde reports), never an HTML or plain-text
/// page.
pub(crate) struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiFailure> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A query string whose rejection is a JSON error naming the parameter,
/// like [`ApiJson`] for bodies.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiFailure> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiFailure::bad_request(format!(
                "the query string is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiFailure {
    let status = rejection.status();
    let detail = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "send the body as JSON with `Content-Type: application/json`".to_string()
        }
        other => format!("the request body is not valid: {}", other.body_text()),
    };
    let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "payload_too_large"
    } else {
        "invalid_request"
    };
    ApiFailure::new(status, error, detail)
}
