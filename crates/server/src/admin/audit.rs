//! The tenant's audit chain: its records in chain order, and a check that
//! none was altered, removed or reordered.

use axum::Json;
use axum::extract::{RawQuery, State};
use lockgate_domain::audit::AuditRecord;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{AdminAuth, Auditor};
use crate::error::ApiFailure;

/// Records returned when the request gives no `limit`.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1_000;

/// `GET /admin/v1/tenants/{tenant}/audit?after=SEQ&limit=N`: records with
/// a sequence number above `after` (default 0), oldest first, at most
/// `limit` (1 to 1000, default 100). The next page starts after the last
/// `seq` returned.
pub(crate) async fn audit_records(
    State(state): State<AppState>,
    auth: AdminAuth<Auditor>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<AuditRecord>>, ApiFailure> {
    let params = crate::scim::query_params(query.as_deref());
    let after = integer_param(params.get("after"), "after")?.unwrap_or(0);
    if after < 0 {
        return Err(ApiFailure::bad_request(format!(
            "after {after} is negative. Use 0 or the last seq of the previous page."
        )));
    }
    let limit = integer_param(params.get("limit"), "limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiFailure::bad_request(format!(
            "limit {limit} is out of range. Use 1 to {MAX_LIMIT}."
        )));
    }
    let records = state
        .store
        .tenant(&auth.tenant.id)
        .audit_records(after, limit)
        .await?;
    Ok(Json(records))
}

/// `GET /admin/v1/tenants/{tenant}/audit/verify?expected_head=HASH`: checks
/// the whole chain. The response is 200 whether or not the chain is intact,
/// with `intact`, the number of `records` that passed and the `head` hash
/// of the last of them, plus `error` when the chain is broken.
// NOTE: the check reads the whole log inside one request, so a log of
// millions of records can exceed the server's 30-second request timeout.
// `lockgate audit verify` has no such limit.
pub(crate) async fn verify(
    State(state): State<AppState>,
    auth: AdminAuth<Auditor>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiFailure> {
    let params = crate::scim::query_params(query.as_deref());
    let expected_head = params.get("expected_head").map(parse_hash).transpose()?;
    let result = state
        .store
        .tenant(&auth.tenant.id)
        .verify_audit(expected_head.as_deref())
        .await?;
    let mut body = json!({
        "intact": result.is_intact(),
        "records": result.records,
        "head": result.head,
    });
    if let Some(error) = &result.error {
        tracing::warn!(tenant = %auth.tenant.slug, %error, "audit chain verification failed");
        body["error"] = Value::String(error.to_string());
    }
    if let Some(seq) = result.expected_head_seq {
        body["expected_head_seq"] = json!(seq);
    }
    Ok(Json(body))
}

fn integer_param(value: Option<&str>, name: &str) -> Result<Option<i64>, ApiFailure> {
    value
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| ApiFailure::bad_request(format!("{name} {text:?} is not an integer")))
        })
        .transpose()
}

/// Checks that `text` is a SHA-256 hash (64 hexadecimal digits) and returns
/// it in lower case, as stored hashes are.
fn parse_hash(text: &str) -> Result<String, ApiFailure> {
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiFailure::bad_request(format!(
            "expected_head {text:?} is not a SHA-256 hash. Give the 64 hexadecimal digits of a record's hash."
        )));
    }
    Ok(text.to_ascii_lowercase())
}
