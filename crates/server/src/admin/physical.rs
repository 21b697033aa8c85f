//! The physical model over the admin API: sites, zones, banks and lockers,
//! locker state changes, and imports of many at once.
//!
//! Every write that commits then reloads the tenant's lockers into the
//! decision index, so open decisions use the new model from then on.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lockgate_domain::access::model::LockerState;
use lockgate_store::{
    Bank, ImportError, LockerFilter, LockerRecord, NewBank, NewLocker, NewSite, NewZone,
    PhysicalDocument, ProblemKind, RowProblem, Site, Zone,
};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::admin::{AdminAuth, ApiJson, FacilityManager, Helpdesk};
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/sites", get(list_sites).post(create_site))
        .route("/tenants/{tenant}/zones", get(list_zones).post(create_zone))
        .route("/tenants/{tenant}/banks", get(list_banks).post(create_bank))
        .route(
            "/tenants/{tenant}/lockers",
            get(list_lockers).post(create_locker),
        )
        .route(
            "/tenants/{tenant}/lockers/{locker}",
            get(get_locker).patch(set_state).delete(delete_locker),
        )
        .route(
            "/tenants/{tenant}/lockers/{locker}/emptied",
            post(mark_emptied),
        )
        .route("/tenants/{tenant}/import", post(import))
}

/// Reads the query string and rejects parameters other than `allowed`, so
/// a misspelt filter fails instead of silently matching everything.
pub(crate) fn filters(
    query: Option<&str>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiFailure> {
    let mut values = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let expected = if allowed.is_empty() {
                "this list takes no parameters".to_string()
            } else {
                format!("use {}", allowed.join(", "))
            };
            return Err(ApiFailure::bad_request(format!(
                "query parameter {name:?} is not known; {expected}"
            )));
        }
        if !value.is_empty() {
            values.insert(name.into_owned(), value.into_owned());
        }
    }
    Ok(values)
}

/// `GET /sites`
async fn list_sites(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Site>>, ApiFailure> {
    filters(query.as_deref(), &[])?;
    let sites = state.store.tenant(&auth.tenant.id).list_sites().await?;
    Ok(Json(sites))
}

/// `POST /sites` with `{"id", "name"}`.
async fn create_site(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    ApiJson(site): ApiJson<NewSite>,
) -> Result<(StatusCode, Json<Site>), ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let site = tenant.create_site(auth.actor, site).await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok((StatusCode::CREATED, Json(site)))
}

/// `GET /zones?site=ID`
async fn list_zones(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Zone>>, ApiFailure> {
    let params = filters(query.as_deref(), &["site"])?;
    let tenant = state.store.tenant(&auth.tenant.id);
    let zones = tenant
        .list_zones(params.get("site").map(String::as_str))
        .await?;
    Ok(Json(zones))
}

/// `POST /zones` with `{"id", "site", "name"}`.
async fn create_zone(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    ApiJson(zone): ApiJson<NewZone>,
) -> Result<(StatusCode, Json<Zone>), ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let zone = tenant.create_zone(auth.actor, zone).await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok((StatusCode::CREATED, Json(zone)))
}

/// `GET /banks?zone=ID`
async fn list_banks(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Bank>>, ApiFailure> {
    let params = filters(query.as_deref(), &["zone"])?;
    let tenant = state.store.tenant(&auth.tenant.id);
    let banks = tenant
        .list_banks(params.get("zone").map(String::as_str))
        .await?;
    Ok(Json(banks))
}

/// `POST /banks` with `{"id", "zone", "name"}`.
async fn create_bank(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    ApiJson(bank): ApiJson<NewBank>,
) -> Result<(StatusCode, Json<Bank>), ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let bank = tenant.create_bank(auth.actor, bank).await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok((StatusCode::CREATED, Json(bank)))
}

/// The largest page `GET /lockers` returns.
const MAX_LOCKER_PAGE: usize = 5_000;

/// `GET /lockers?bank=ID&zone=ID&state=STATE&after=ID&limit=N`: lockers in
/// door order (`w3-a-2` before `w3-a-10`). With `limit` it returns one page,
/// and the next page starts `after` the last id of this one.
async fn list_lockers(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<LockerRecord>>, ApiFailure> {
    let allowed = ["bank", "zone", "state", "after", "limit"];
    let mut params = filters(query.as_deref(), &allowed)?;
    let locker_state = match params.get("state") {
        None => None,
        Some(text) => Some(parse_state(text)?),
    };
    let limit = match params.get("limit") {
        None => None,
        Some(text) => Some(parse_limit(text)?),
    };
    let filter = LockerFilter {
        bank: params.remove("bank"),
        zone: params.remove("zone"),
        state: locker_state,
    };
    let tenant = state.store.tenant(&auth.tenant.id);
    let mut lockers = tenant.list_lockers(&filter).await?;
    if lockers.is_empty() {
        check_filter_places(&tenant, auth.tenant.slug.as_str(), &filter).await?;
    }
    lockers.sort_by(|a, b| a.id.door_order(&b.id));
    let start = match params.get("after") {
        None => 0,
        Some(after) => {
            let position = lockers.iter().position(|l| l.id.as_str() == after);
            let position = position.ok_or_else(|| {
                ApiFailure::not_found(format!(
                    "locker after={after:?} not found among the listed lockers; pass the last id of the previous page"
                ))
            })?;
            position + 1
        }
    };
    let end = limit.map_or(lockers.len(), |limit| (start + limit).min(lockers.len()));
    Ok(Json(lockers.drain(start..end).collect()))
}

/// Returns 404 for a bank or zone filter that names no bank or zone, so a
/// mistyped id is not taken for an empty bank. Runs only when nothing
/// matched, which keeps the lookups off the usual path.
async fn check_filter_places(
    tenant: &lockgate_store::TenantStore,
    slug: &str,
    filter: &LockerFilter,
) -> Result<(), ApiFailure> {
    if let Some(bank) = &filter.bank {
        let banks = tenant.list_banks(None).await?;
        if !banks.iter().any(|known| known.id.as_str() == bank) {
            return Err(ApiFailure::not_found(format!(
                "bank={bank:?} not found; list the banks with GET /admin/v1/tenants/{slug}/banks"
            )));
        }
    }
    if let Some(zone) = &filter.zone {
        let zones = tenant.list_zones(None).await?;
        if !zones.iter().any(|known| known.id.as_str() == zone) {
            return Err(ApiFailure::not_found(format!(
                "zone={zone:?} not found; list the zones with GET /admin/v1/tenants/{slug}/zones"
            )));
        }
    }
    Ok(())
}

fn parse_limit(text: &str) -> Result<usize, ApiFailure> {
    text.parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_LOCKER_PAGE).contains(limit))
        .ok_or_else(|| {
            ApiFailure::bad_request(format!(
                "limit {text:?} is not valid; use 1 to {MAX_LOCKER_PAGE}"
            ))
        })
}

fn parse_state(text: &str) -> Result<LockerState, ApiFailure> {
    serde_json::from_value(json!(text)).map_err(|_| {
        ApiFailure::bad_request(format!(
            "state {text:?} is not valid; use available, assigned, blocked, maintenance or clear_out"
        ))
    })
}

/// `POST /lockers` with `{"id", "bank", "door", "kind", "size"}`; the
/// locker starts `available`.
async fn create_locker(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    ApiJson(locker): ApiJson<NewLocker>,
) -> Result<(StatusCode, Json<LockerRecord>), ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let locker = tenant.create_locker(auth.actor, locker).await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok((StatusCode::CREATED, Json(locker)))
}

/// `GET /lockers/{locker}`
async fn get_locker(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<LockerRecord>, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    match tenant.get_locker(&id).await? {
        Some(locker) => Ok(Json(locker)),
        None => Err(ApiFailure::not_found(format!(
            "locker \"{id}\" not found; list lockers with GET /lockers"
        ))),
    }
}

/// The body of a locker state change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: LockerState,
}

/// `PATCH /lockers/{locker}` with `{"state": "blocked"}`: an admin sets
/// `blocked`, `maintenance` or `available`.
async fn set_state(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): Path<(String, String)>,
    ApiJson(change): ApiJson<StateChange>,
) -> Result<Json<LockerRecord>, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let locker = tenant
        .set_locker_state(auth.actor, &id, change.state)
        .await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok(Json(locker))
}

/// The body of an emptied record; `{}` when there is nothing to note.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Emptied {
    /// Kept in the audit record, such as where the contents went.
    #[serde(default)]
    note: Option<String>,
    /// The state to leave the locker in: `available` unless given, or
    /// `blocked` or `maintenance` so that the engine does not assign it.
    #[serde(default = "available")]
    state: LockerState,
}

fn available() -> LockerState {
    LockerState::Available
}

/// `POST /lockers/{locker}/emptied` with `{}`, `{"note": "..."}` and
/// optionally `{"state": "blocked"}` or `"maintenance"`: a facility
/// manager records a locker in clear-out as emptied, which makes it
/// available again unless another state is given.
async fn mark_emptied(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): Path<(String, String)>,
    ApiJson(emptied): ApiJson<Emptied>,
) -> Result<Json<LockerRecord>, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    let locker = tenant
        .mark_emptied(auth.actor, &id, emptied.note, emptied.state)
        .await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok(Json(locker))
}

/// `DELETE /lockers/{locker}`; rejected while the locker has an open assignment.
async fn delete_locker(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    tenant.delete_locker(auth.actor, &id).await?;
    state.access.lockers_changed(&auth.tenant.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /import` with the document of a TOML import file as JSON. It
/// writes every row or none. A rejected import returns 400 (409 when every
/// problem is a taken id or door) with `problems`, one entry per broken
/// rule: `row` (its path in the document), `kind` and `message`.
async fn import(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    ApiJson(document): ApiJson<PhysicalDocument>,
) -> Result<Response, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    match tenant
        .import_physical(auth.actor, document.into_import())
        .await
    {
        Ok(summary) => {
            state.access.lockers_changed(&auth.tenant.id).await?;
            tracing::info!(tenant = %auth.tenant.slug, %summary, "physical model imported");
            Ok(Json(summary).into_response())
        }
        Err(ImportError::Rejected(problems)) => {
            tracing::info!(
                tenant = %auth.tenant.slug,
                problems = problems.len(),
                "physical import rejected; nothing was written"
            );
            Ok(rejected(problems))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

fn rejected(problems: Vec<RowProblem>) -> Response {
    let all_conflicts = problems.iter().all(|p| p.kind == ProblemKind::Conflict);
    let (status, error) = if all_conflicts {
        (StatusCode::CONFLICT, "conflict")
    } else {
        (StatusCode::BAD_REQUEST, "invalid_request")
    };
    let detail = format!(
        "the import has {} problems and nothing was imported; fix every row listed in \
         problems and send the whole import again",
        problems.len()
    );
    let body = json!({"error": error, "detail": detail, "problems": problems});
    (status, Json(body)).into_response()
}
