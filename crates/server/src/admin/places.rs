//! `PATCH /sites/{id}`, `/zones/{id}` and `/banks/{id}` with `{"name"}`
//! renames a site, zone or bank. Ids cannot change, because lockers,
//! policies and device tokens refer to them. `DELETE` on the same paths
//! deletes one that nothing refers to any more.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{MethodRouter, patch};
use axum::{Json, Router};
use lockgate_store::{Place, TenantStore};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin::{AdminAuth, ApiJson, FacilityManager};
use crate::error::ApiFailure;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/sites/{id}", place_route(Place::Site))
        .route("/tenants/{tenant}/zones/{id}", place_route(Place::Zone))
        .route("/tenants/{tenant}/banks/{id}", place_route(Place::Bank))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

/// Returns the routes that rename (`PATCH`) and delete (`DELETE`) a place
/// of the given level.
fn place_route(place: Place) -> MethodRouter<AppState> {
    patch(
        move |State(state): State<AppState>,
              auth: AdminAuth<FacilityManager>,
              Path((_, id)): Path<(String, String)>,
              ApiJson(body): ApiJson<Rename>| async move {
            rename(&state, auth, place, &id, &body.name).await
        },
    )
    .delete(
        move |State(state): State<AppState>,
              auth: AdminAuth<FacilityManager>,
              Path((_, id)): Path<(String, String)>| async move {
            let tenant = state.store.tenant(&auth.tenant.id);
            tenant.delete_place(auth.actor, place, &id).await?;
            Ok::<_, ApiFailure>(StatusCode::NO_CONTENT)
        },
    )
}

/// Renames the place and returns its stored record in the shape of its
/// list route.
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
