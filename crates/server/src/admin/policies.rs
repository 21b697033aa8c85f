//! Access policies: list, read every version, save a new version, retire,
//! and preview a change before saving it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lockgate_domain::access::document::PolicyDocument;
use lockgate_domain::access::model::PolicyId;
use lockgate_store::{PolicyChange, StoredPolicy};
use serde::Deserialize;
use serde_json::Value;

use super::{AdminAuth, ApiJson, Helpdesk, TenantAdmin};
use crate::AppState;
use crate::error::ApiFailure;

type TenantAndId = Path<(String, String)>;

/// A save: the document and the version it was edited from (absent for
/// a new policy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SaveRequest {
    #[serde(default)]
    base_version: Option<i64>,
    policy: Value,
}

/// `GET /policies`: the newest version of each policy.
pub(crate) async fn list(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
) -> Result<Json<Vec<StoredPolicy>>, ApiFailure> {
    let store = state.store.tenant(&auth.tenant.id);
    Ok(Json(store.latest_policies().await?))
}

/// `GET /policies/{id}`: every version, oldest first.
pub(crate) async fn versions(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, id)): TenantAndId,
) -> Result<Json<Vec<StoredPolicy>>, ApiFailure> {
    let versions = state
        .store
        .tenant(&auth.tenant.id)
        .policy_versions(&id)
        .await?;
    if versions.is_empty() {
        return Err(ApiFailure::not_found(format!(
            "policy \"{id}\" not found; list policies with GET /policies"
        )));
    }
    Ok(Json(versions))
}

/// `PUT /policies/{id}`: saves a new version and re-plans every user.
pub(crate) async fn save(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
    Path((_, id)): TenantAndId,
    ApiJson(request): ApiJson<SaveRequest>,
) -> Result<(StatusCode, Json<Value>), ApiFailure> {
    check_id(&id)?;
    let document = parse(&id, &request.policy)?;
    let warnings = coverage_warnings(&state, &auth.tenant.id, &document).await?;
    let change = PolicyChange {
        id: id.clone(),
        document: Some(serde_json::to_value(&document).unwrap_or(request.policy)),
        expected_version: request.base_version,
        actor: auth.actor,
    };
    let saved = state
        .store
        .tenant(&auth.tenant.id)
        .save_policy(change)
        .await?;
    state.access.policies_changed(&auth.tenant.id).await?;
    let status = if saved.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::to_value(&saved).expect("policies serialize");
    body["warnings"] = serde_json::json!(warnings);
    Ok((status, Json(body)))
}

/// Names the banks and zones the policy covers that do not exist (yet),
/// so a typo does not silently grant nothing, and a `what` without banks
/// and zones, which covers every bank. Saving still succeeds, because
/// lockers may be imported after the policy.
async fn coverage_warnings(
    state: &AppState,
    tenant_id: &str,
    document: &PolicyDocument,
) -> Result<Vec<String>, ApiFailure> {
    let tenant = state.access.tenant(tenant_id).await?;
    let index = tenant.read();
    let mut warnings = Vec::new();
    let what = &document.what;
    if what.banks.is_empty() && what.zones.is_empty() {
        let covered = if what.kinds.is_empty() {
            "every locker of the tenant".to_string()
        } else {
            "lockers of its kinds in every bank of the tenant".to_string()
        };
        warnings.push(format!(
            "what names no banks and no zones, so the policy covers {covered}; \
             name banks or zones to narrow it"
        ));
    }
    for bank in &document.what.banks {
        if !index.lockers.values().any(|l| l.bank.as_str() == bank) {
            warnings.push(format!(
                "what.banks names \"{bank}\", which has no lockers yet"
            ));
        }
    }
    for zone in &document.what.zones {
        if !index.lockers.values().any(|l| l.zone.as_str() == zone) {
            warnings.push(format!(
                "what.zones names \"{zone}\", which has no lockers yet"
            ));
        }
    }
    Ok(warnings)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetireRequest {
    base_version: i64,
}

/// `POST /policies/{id}/retire`: ends the policy; its users lose the
/// entitlement as movers do.
pub(crate) async fn retire(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
    Path((_, id)): TenantAndId,
    ApiJson(request): ApiJson<RetireRequest>,
) -> Result<Json<StoredPolicy>, ApiFailure> {
    let change = PolicyChange {
        id,
        document: None,
        expected_version: Some(request.base_version),
        actor: auth.actor,
    };
    let saved = state
        .store
        .tenant(&auth.tenant.id)
        .save_policy(change)
        .await?;
    state.access.policies_changed(&auth.tenant.id).await?;
    Ok(Json(saved))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewRequest {
    /// The proposed document, or absent to preview retiring the policy.
    #[serde(default)]
    policy: Option<Value>,
}

/// `POST /policies/{id}/preview`: what saving would change, with the
/// warnings the save would return; writes nothing.
pub(crate) async fn preview(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
    Path((_, id)): TenantAndId,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<Json<Value>, ApiFailure> {
    check_id(&id)?;
    let mut warnings = Vec::new();
    let proposed = match &request.policy {
        Some(value) => {
            let document = parse(&id, value)?;
            warnings = coverage_warnings(&state, &auth.tenant.id, &document).await?;
            let policy = document
                .to_policy(&PolicyId::new(&id), u32::MAX)
                .map_err(|e| ApiFailure::bad_request(format!("policy \"{id}\": {e}")))?;
            Some(policy)
        }
        None => None,
    };
    let report = state
        .access
        .preview(&auth.tenant.id, &PolicyId::new(&id), proposed)
        .await?;
    let mut body = serde_json::to_value(&report).expect("preview reports serialize");
    body["warnings"] = serde_json::json!(warnings);
    Ok(Json(body))
}

fn parse(id: &str, value: &Value) -> Result<PolicyDocument, ApiFailure> {
    let document: PolicyDocument = serde_path_to_error::deserialize(value.clone())
        .map_err(|e| ApiFailure::bad_request(format!("policy \"{id}\": {}", field_error(&e))))?;
    document
        .to_policy(&PolicyId::new(id), 1)
        .map_err(|e| ApiFailure::bad_request(format!("policy \"{id}\": {e}")))?;
    Ok(document)
}

/// Formats a policy parse error with the failing field's path, writing
/// "a whole number from 0 to N" where serde names a Rust integer type such
/// as `u32`.
fn field_error(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut message = error.inner().to_string();
    for (integer, max) in [
        ("u8", u64::from(u8::MAX)),
        ("u16", u64::from(u16::MAX)),
        ("u32", u64::from(u32::MAX)),
        ("u64", u64::MAX),
        ("usize", u64::MAX),
    ] {
        message = message.replace(
            &format!("expected {integer}"),
            &format!("expected a whole number from 0 to {max}"),
        );
    }
    match error.path().to_string().as_str() {
        "." => message,
        path => format!("{path}: {message}"),
    }
}

/// Policy ids appear in URLs and audit records, so they are kept plain.
pub(crate) fn check_id(id: &str) -> Result<(), ApiFailure> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(ApiFailure::bad_request(format!(
            "id {id:?} is not valid; use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}
