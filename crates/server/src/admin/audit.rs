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

/// The query parameters of `GET /audit/verify`.
const VERIFY_PARAMS: [&str; 4] = ["expected_head", "after_seq", "after_hash", "limit"];

/// Records one check reads at most, so that it ends well inside the
/// server's 30-second request timeout. The 2-core benchmark machine checked
/// about 110,000 records a second (1.6 million in the decision benchmark).
const MAX_VERIFY_LIMIT: i64 = 1_000_000;

/// `GET /admin/v1/tenants/{tenant}/audit/verify?expected_head=HASH&limit=N`
/// checks the chain from its first record, at most `limit` records (1 to
/// 1,000,000, default 1,000,000). `after_seq=SEQ&after_hash=HASH` resumes
/// after a record an earlier check ended with (its `last_seq` and `head`).
/// That record must still have that hash; records before it are not read
/// again.
///
/// The response is 200 whether or not the chain is intact. It has
/// `intact`, the number of `records` that passed, and the `last_seq` and
/// `head` hash of the last of them. `complete` is true once the check has
/// reached the end of the chain. Until then `next` contains the parameters
/// that resume it. A broken chain sets `error` and `error_code`. The
/// expected head is only required of a check that reaches the end.
pub(crate) async fn verify(
    State(state): State<AppState>,
    auth: AdminAuth<Auditor>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiFailure> {
    let params = crate::scim::query_params(query.as_deref());
    if let Some(unknown) = params.unknown(&VERIFY_PARAMS) {
        return Err(ApiFailure::bad_request(format!(
            "{unknown} is not a parameter of the chain check. Use {}.",
            VERIFY_PARAMS.join(", ")
        )));
    }
    let expected_head = hash_param(params.get("expected_head"), "expected_head")?;
    let after = resume_point(
        integer_param(params.get("after_seq"), "after_seq")?,
        hash_param(params.get("after_hash"), "after_hash")?,
    )?;
    let limit = integer_param(params.get("limit"), "limit")?.unwrap_or(MAX_VERIFY_LIMIT);
    if !(1..=MAX_VERIFY_LIMIT).contains(&limit) {
        return Err(ApiFailure::bad_request(format!(
            "limit {limit} is out of range. Use 1 to {MAX_VERIFY_LIMIT}, and resume with \
             after_seq and after_hash for a longer chain."
        )));
    }
    let after = after.as_ref().map(|(seq, hash)| (*seq, hash.as_str()));
    let result = state
        .store
        .tenant(&auth.tenant.id)
        .verify_audit_from(after, limit.unsigned_abs(), expected_head.as_deref())
        .await?;
    let mut body = json!({
        "intact": result.is_intact(),
        "complete": result.complete,
        "records": result.records,
        "last_seq": result.last_seq,
        "head": result.head,
    });
    if let Some(error) = &result.error {
        tracing::warn!(tenant = %auth.tenant.slug, %error, "audit chain verification failed");
        body["error"] = Value::String(error.to_string());
        body["error_code"] = Value::String(error.code().to_string());
    } else if !result.complete {
        body["next"] = Value::String(format!(
            "after_seq={}&after_hash={}",
            result.last_seq, result.head
        ));
    }
    if let Some(seq) = result.expected_head_seq {
        body["expected_head_seq"] = json!(seq);
    }
    Ok(Json(body))
}

/// Pairs `after_seq` with `after_hash`: a resumed check needs both.
fn resume_point(
    seq: Option<i64>,
    hash: Option<String>,
) -> Result<Option<(i64, String)>, ApiFailure> {
    match (seq, hash) {
        (None, None) => Ok(None),
        (Some(seq), Some(hash)) if seq >= 1 => Ok(Some((seq, hash))),
        (Some(seq), Some(_)) => Err(ApiFailure::bad_request(format!(
            "after_seq {seq} is not a record. Use the last_seq of an earlier check, or leave \
             out after_seq and after_hash to check from the first record."
        ))),
        (Some(seq), None) => Err(ApiFailure::bad_request(format!(
            "after_seq {seq} is missing its after_hash. Pass the head that the earlier check \
             returned with last_seq {seq}."
        ))),
        (None, Some(_)) => Err(ApiFailure::bad_request(
            "after_hash is missing its after_seq. Pass the last_seq that the earlier check \
             returned with this head.",
        )),
    }
}

fn integer_param(value: Option<&str>, name: &str) -> Result<Option<i64>, ApiFailure> {
    value
        .map(|text| {
            text.parse::<i64>()
                .map_err(|_| ApiFailure::bad_request(format!("{name} {text:?} is not an integer")))
        })
        .transpose()
}

/// Checks that parameter `name`, when given, is a SHA-256 hash (64
/// hexadecimal digits) and returns it in lower case, as stored hashes are.
fn hash_param(value: Option<&str>, name: &str) -> Result<Option<String>, ApiFailure> {
    let Some(text) = value else {
        return Ok(None);
    };
    if text.len() != 64 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiFailure::bad_request(format!(
            "{name} {text:?} is not a SHA-256 hash. Give the 64 hexadecimal digits of a record's hash."
        )));
    }
    Ok(Some(text.to_ascii_lowercase()))
}
