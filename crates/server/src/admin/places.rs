//! `PATCH /sites/{id}`, `/zones/{id}` and `/banks/{id}` with `{"name"}`:
//! renames a site, zone or bank. Ids cannot change, because lockers,
//! policies and device tokens refer to them.

use axum::extract::{Path, State};
use axum::routing::patch;
use axum::{Json, Router};
use lockgate_store::{Place, TenantStore};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{AdminAuth, ApiJson, FacilityManager};
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/sites/{id}", patch(rename_site))
        .route("/tenants/{tenant}/zones/{id}", patch(rename_zone))
        .route("/tenants/{tenant}/banks/{id}", patch(rename_bank))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

type TenantAndId = Path<(String, String)>;

async fn rename_site(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): TenantAndId,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<Value>, ApiFailure> {
    rename(&state, auth, Place::Site, &id, &body.name).await
}

async fn rename_zone(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): TenantAndId,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<Value>, ApiFailure> {
    rename(&state, auth, Place::Zone, &id, &body.name).await
}

async fn rename_bank(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): TenantAndId,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<Value>, ApiFailure> {
    rename(&state, auth, Place::Bank, &id, &body.name).await
}

/// Renames the place and returns it as its list route shows it.
async fn rename(
    state: &AppState,
    auth: AdminAuth<FacilityManager>,
    place: Place,
    id: &str,
    name: &str,
) -> Result<Json<Value>, ApiFailure> {
    let tenant = state.store.tenant(&auth.tenant.id);
    tenant.rename_place(auth.actor, place, id, name).await?;
    let renamed = stored(&tenant, place, id).await?;
    Ok(Json(renamed))
}

async fn stored(tenant: &TenantStore, place: Place, id: &str) -> Result<Value, ApiFailure> {
    let found = match place {
        Place::Site => find(tenant.list_sites().await?, |site| site.id.as_str() == id),
        Place::Zone => find(tenant.list_zones(None).await?, |zone| {
            zone.id.as_str() == id
        }),
        Place::Bank => find(tenant.list_banks(None).await?, |bank| {
            bank.id.as_str() == id
        }),
    };
    found.ok_or_else(|| ApiFailure::not_found(format!("{} {id:?} not found", place.label())))
}

fn find<T: serde::Serialize>(items: Vec<T>, matches: impl Fn(&T) -> bool) -> Option<Value> {
    items
        .into_iter()
        .find(|item| matches(item))
        .map(|item| json!(item))
}
