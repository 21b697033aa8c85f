//! The provisioning log, read by the helpdesk to answer why the identity
//! provider reported an error.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use lockgate_store::{LogEntry, LogQuery, Tenant};

use crate::AppState;
use crate::admin::{AdminAuth, Auditor};
use crate::error::ApiFailure;

async fn authenticate(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
) -> Result<Tenant, ApiFailure> {
    let unauthorized = || {
        ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the tenant's SCIM token as `Authorization: Bearer <token>`",
        )
    };
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::scim::bearer_token)
        .ok_or_else(unauthorized)?;
    let tenant = state.tenant(slug).await?.ok_or_else(unauthorized)?;
    state
        .store
        .authenticate_bearer(&tenant.id, token)
        .await?
        .ok_or_else(unauthorized)?;
    Ok(tenant)
}

/// `GET /admin/v1/tenants/{tenant}/provisioning-log?failures=true&resource=ID&before=SEQ&limit=N`,
/// newest first.
pub(crate) async fn provisioning_log(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    admin: Result<AdminAuth<Auditor>, ApiFailure>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<LogEntry>>, ApiFailure> {
    let tenant = match admin {
        Ok(auth) => auth.tenant,
        // A signed-in user below the auditor role is refused as such; any
        // other failure may still be a SCIM token.
        Err(failure) if failure.status == StatusCode::FORBIDDEN => return Err(failure),
        Err(_) => authenticate(&state, &slug, &headers).await?,
    };
    let params = crate::scim::query_params(query.as_deref());
    let number = |name: &str| -> Result<Option<i64>, ApiFailure> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiFailure::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("{name} {v:?} is not an integer"),
                    )
                })
            })
            .transpose()
    };
    let failures_only = match params.get("failures") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("failures {other:?} is not a boolean; use true or false"),
            ));
        }
    };
    let log_query = LogQuery {
        failures_only,
        resource_id: params.get("resource").map(str::to_string),
        before_seq: number("before")?,
        limit: number("limit")?.unwrap_or(100),
    };
    let entries = state
        .store
        .tenant(&tenant.id)
        .provisioning_log(&log_query)
        .await?;
    Ok(Json(entries))
}
