//! Who may call an admin route. Every handler names the least role it
//! needs in its signature, as `AdminAuth<Helpdesk>`, so a route cannot
//! forget the check and a test can list each route's role.
//!
//! Two credentials are accepted: an admin token of the tenant (full
//! control, for scripts) and a browser session from single sign-on or
//! break-glass, whose role comes from the tenant's role mapping. A session
//! request that changes state must also send the session's CSRF token in
//! `X-CSRF-Token`, so another site cannot make the browser act.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use lockgate_domain::audit::Actor;
use lockgate_domain::role::Role;
use lockgate_store::{CredentialKind, SessionRecord, Tenant};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiFailure;

/// The cookie that carries a browser session.
pub(crate) const SESSION_COOKIE: &str = "lg_session";

/// The least role a route needs, as a type.
pub(crate) trait RequiredRole: Send + Sync + 'static {
    const ROLE: Role;
}

macro_rules! role_marker {
    ($name:ident, $role:expr) => {
        pub(crate) struct $name;
        impl RequiredRole for $name {
            const ROLE: Role = $role;
        }
    };
}

role_marker!(Auditor, Role::Auditor);
role_marker!(Helpdesk, Role::Helpdesk);
role_marker!(FacilityManager, Role::FacilityManager);
role_marker!(TenantAdmin, Role::TenantAdmin);

/// An admin request authenticated for the tenant in its path with at least
/// role `R`.
pub(crate) struct AdminAuth<R: RequiredRole = TenantAdmin> {
    pub tenant: Tenant,
    /// The audit actor: the admin token's credential id, or the signed-in
    /// principal.
    pub actor: Actor,
    /// The caller's role, at least `R::ROLE`.
    #[allow(dead_code)]
    pub role: Role,
    required: PhantomData<R>,
}

fn unauthorized() -> ApiFailure {
    ApiFailure::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send an admin token of this tenant as `Authorization: Bearer <token>` \
         (create one with `lockgate admin-token create TENANT`), or sign in",
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

/// Returns the value of cookie `name`, if the request sent it.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
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

/// Returns the highest role of a session.
pub(crate) fn session_role(session: &SessionRecord) -> Option<Role> {
    session.roles.iter().filter_map(|r| Role::parse(r)).max()
}

impl<R: RequiredRole> FromRequestParts<AppState> for AdminAuth<R> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        let slug = tenant_slug(parts, state).await?;
        let (tenant_id, actor, role) = if let Some(token) = bearer(parts) {
            let auth = state
                .store
                .authenticate_token(CredentialKind::AdminToken, token)
                .await?
                .ok_or_else(unauthorized)?;
            (
                auth.tenant_id,
                Actor::Admin(auth.credential_id),
                Role::TenantAdmin,
            )
        } else if let Some(cookie) = cookie_value(&parts.headers, SESSION_COOKIE) {
            let session = state
                .store
                .session(cookie, state.config.session_idle)
                .await?
                .ok_or_else(unauthorized)?;
            check_csrf(parts, &session)?;
            let role = session_role(&session).ok_or_else(|| forbidden(None, R::ROLE))?;
            (session.tenant_id, Actor::Admin(session.principal), role)
        } else {
            return Err(unauthorized());
        };
        let tenant = state.tenant(&slug).await?.ok_or_else(unauthorized)?;
        // A credential of tenant A on tenant B's path is rejected like a
        // wrong one, so it does not reveal that tenant B exists.
        if tenant_id != tenant.id {
            return Err(unauthorized());
        }
        if role < R::ROLE {
            return Err(forbidden(Some(role), R::ROLE));
        }
        tracing::Span::current().record("tenant", tenant.slug.as_str());
        Ok(AdminAuth {
            tenant,
            actor,
            role,
            required: PhantomData,
        })
    }
}

fn forbidden(have: Option<Role>, need: Role) -> ApiFailure {
    let have = have.map_or("no Lockgate role".to_string(), |r| format!("the {r} role"));
    ApiFailure::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "this route needs the {need} role or higher, and you have {have}; \
             ask a tenant admin to map your app role or group to {need}"
        ),
    )
}

/// Requires the session's CSRF token on requests that change state.
fn check_csrf(parts: &Parts, session: &SessionRecord) -> Result<(), ApiFailure> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(session.csrf_token.as_bytes())) && !sent.is_empty() {
        Ok(())
    } else {
        Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "a signed-in request that changes state must send the session's CSRF token \
             in the X-CSRF-Token header; the portal page carries it",
        ))
    }
}
