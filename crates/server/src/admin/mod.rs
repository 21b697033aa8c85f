//! The admin API under `/admin/v1/tenants/{tenant}`. Requests authenticate
//! with an admin token of the tenant (`lockgate admin-token create`), and
//! every handler names [`AdminAuth`] in its signature, so no route can
//! forget the check. The provisioning log also accepts the tenant's SCIM
//! credentials, since whoever holds them already controls its identities.
// NOTE: admin tokens give full control of one tenant. Per-role access
// (facility manager, helpdesk, auditor) arrives with single sign-on.

mod audit;
mod lifecycle;
mod people;
pub(crate) use people::set_pin;
mod physical;
mod policies;
mod provisioning_log;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use lockgate_domain::audit::Actor;
use lockgate_store::{CredentialKind, Tenant};
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
        .route(&tenant("/outbox"), get(lifecycle::outbox))
        .route(
            &tenant("/settings"),
            get(lifecycle::settings).put(lifecycle::save_settings),
        )
}

/// An admin request authenticated for the tenant in its path.
pub(crate) struct AdminAuth {
    pub tenant: Tenant,
    /// The audit actor: the admin token's credential id.
    pub actor: Actor,
}

fn unauthorized() -> ApiFailure {
    ApiFailure::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send an admin token of this tenant as `Authorization: Bearer <token>`; \
         create one with `lockgate admin-token create TENANT`",
    )
}

/// Returns the bearer token of a request, if it has one.
pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::scim::bearer_token)
}

/// Returns the `{tenant}` segment of the matched route.
async fn tenant_slug(parts: &mut Parts, state: &AppState) -> Result<String, ApiFailure> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiFailure::not_found("route without a tenant"))?;
    params
        .iter()
        .find(|(name, _)| *name == "tenant")
        .map(|(_, value)| value.to_string())
        .ok_or_else(|| ApiFailure::not_found("route without a tenant"))
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let slug = tenant_slug(parts, state).await?;
        let token = bearer(parts).ok_or_else(unauthorized)?;
        let auth = state
            .store
            .authenticate_token(CredentialKind::AdminToken, token)
            .await?
            .ok_or_else(unauthorized)?;
        let tenant = state.tenant(&slug).await?.ok_or_else(unauthorized)?;
        // A token of tenant A on tenant B's path is refused like a wrong
        // token, so it does not reveal that tenant B exists.
        if auth.tenant_id != tenant.id {
            return Err(unauthorized());
        }
        tracing::Span::current().record("tenant", tenant.slug.as_str());
        Ok(AdminAuth {
            tenant,
            actor: Actor::Admin(auth.credential_id),
        })
    }
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
