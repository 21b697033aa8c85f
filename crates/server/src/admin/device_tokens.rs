//! `GET /device-tokens` and `DELETE /device-tokens/{id}`: the tokens of
//! the tenant's bank controllers, so that a facility manager can list and
//! revoke them without shell access to the server. New tokens are issued
//! with `lockgate device-token create`, which prints the secret once.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use lockgate_store::{CredentialInfo, CredentialKind};

use super::physical::filters;
use super::{AdminAuth, FacilityManager};
use crate::AppState;
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/device-tokens", get(list))
        .route("/tenants/{tenant}/device-tokens/{id}", delete(revoke))
}

/// Lists the tenant's device tokens, newest first, revoked ones included;
/// `bank` narrows the list to one bank. A token's bank is its `scope`.
async fn list(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<CredentialInfo>>, ApiFailure> {
    let filter = filters(query.as_deref(), &["bank"])?;
    let tokens = state
        .store
        .list_credentials(&auth.tenant.id)
        .await?
        .into_iter()
        .filter(|token| token.kind == CredentialKind::DeviceToken)
        .filter(|token| {
            let bank = filter.get("bank");
            bank.is_none_or(|bank| token.scope.as_deref() == Some(bank.as_str()))
        })
        .collect();
    Ok(Json(tokens))
}

/// Revokes one device token; its controller is refused from then on.
async fn revoke(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiFailure> {
    state
        .store
        .revoke_device_token(&auth.tenant.id, &id, auth.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
