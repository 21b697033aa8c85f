//! SCIM authentication: a bearer token that belongs to the tenant named in
//! the URL, either its long-lived SCIM secret token or an access token from
//! its OAuth token endpoint. A token of another tenant gets the same 401 as
//! an unknown one, so tenants cannot be probed through each other's URLs.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use lockgate_scim::ScimError;
use lockgate_store::{Authenticated, Tenant, TenantStore, WriteContext};

use crate::error::ScimFailure;
use crate::{AppState, REQUEST_ID};

/// An authenticated SCIM request for one tenant.
pub(crate) struct ScimAuth {
    pub state: AppState,
    pub tenant: Tenant,
    #[allow(dead_code)]
    pub credential: Authenticated,
    pub request_id: Option<String>,
    /// The tenant's SCIM base URL, such as `https://host/scim/v2/st-marys`.
    pub base_url: String,
}

impl ScimAuth {
    pub fn store(&self) -> TenantStore {
        self.state.store.tenant(&self.tenant.id)
    }

    pub fn write_context(&self) -> WriteContext {
        WriteContext {
            request_id: self.request_id.clone(),
        }
    }
}

fn invalid_token() -> ScimFailure {
    ScimFailure(ScimError::unauthorized(
        "the bearer token is missing, expired, revoked or not valid for this tenant URL; \
         create one with `lockgate scim-token create TENANT` and set it as the Secret Token",
    ))
}

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ScimFailure(ScimError::not_found("no tenant in the URL")))?;
        let slug = params.get("tenant").cloned().unwrap_or_default();
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or_else(invalid_token)?;
        let tenant = state.tenant(&slug).await?.ok_or_else(invalid_token)?;
        let credential = state
            .store
            .authenticate_bearer(&tenant.id, token)
            .await?
            .ok_or_else(invalid_token)?;
        tracing::Span::current().record("tenant", slug.as_str());
        let request_id = parts
            .headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let base_url = format!(
            "{}/scim/v2/{slug}",
            crate::scim::response::origin(state, &parts.headers)
        );
        Ok(ScimAuth {
            state: state.clone(),
            tenant,
            credential,
            request_id,
            base_url,
        })
    }
}

/// Extracts the token from `Bearer <token>`; the scheme is case-insensitive
/// (RFC 7235 §2.1).
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_scheme_ignores_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
