//! The SCIM 2.0 surface, one per tenant under `/scim/v2/{tenant}`.

mod auth;
mod body;
mod discovery;
mod groups;
mod query;
mod read;
pub(crate) mod response;
mod users;

use axum::Router;
use axum::middleware;
use axum::routing::get;

use crate::AppState;
use crate::provisioning_log;

pub(crate) use auth::{ScimAuth, bearer_token};

pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .fallback(response::not_found)
        .method_not_allowed_fallback(response::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state,
            provisioning_log::record,
        ))
}

/// Query parameters, form-decoded, for other surfaces that share the rules.
pub(crate) fn query_params(query: Option<&str>) -> query::Params {
    query::Params::parse(query)
}
