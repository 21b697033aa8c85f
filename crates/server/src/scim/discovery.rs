//! Discovery endpoints (RFC 7644 §4). They need the tenant's token like
//! every other SCIM route, so even they reveal nothing about a tenant to
//! another tenant's credentials.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use lockgate_scim::{ScimError, contract};

use super::ScimAuth;
use super::response::scim_json;
use crate::error::ScimFailure;

pub(crate) async fn service_provider_config(auth: ScimAuth) -> Response {
    let body = contract::with_locations(contract::service_provider_config(), &auth.base_url);
    scim_json(StatusCode::OK, &body)
}

pub(crate) async fn schemas(auth: ScimAuth) -> Result<Response, ScimFailure> {
    let extensions = auth.store().custom_extensions().await?;
    let list = contract::with_custom_extensions(contract::schemas(), &extensions);
    Ok(scim_json(
        StatusCode::OK,
        &contract::with_locations(list, &auth.base_url),
    ))
}

pub(crate) async fn schema(
    auth: ScimAuth,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimFailure> {
    let body = match contract::schema(&id) {
        Some(body) => body,
        None => auth
            .store()
            .custom_extensions()
            .await?
            .iter()
            .find(|e| e.urn.eq_ignore_ascii_case(&id))
            .map(contract::custom_extension_schema)
            .ok_or_else(|| {
                ScimError::not_found(format!(
                    "schema \"{id}\" not found; GET /Schemas lists the schemas"
                ))
            })?,
    };
    Ok(scim_json(
        StatusCode::OK,
        &contract::with_locations(body, &auth.base_url),
    ))
}

pub(crate) async fn resource_types(auth: ScimAuth) -> Result<Response, ScimFailure> {
    let extensions = auth.store().custom_extensions().await?;
    let list = contract::with_custom_extensions(contract::resource_types(), &extensions);
    Ok(scim_json(
        StatusCode::OK,
        &contract::with_locations(list, &auth.base_url),
    ))
}

pub(crate) async fn resource_type(
    auth: ScimAuth,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimFailure> {
    let mut body = contract::resource_type(&id).ok_or_else(|| {
        ScimError::not_found(format!(
            "resource type \"{id}\" not found; use User or Group"
        ))
    })?;
    if body["id"] == "User" {
        contract::add_schema_extensions(&mut body, &auth.store().custom_extensions().await?);
    }
    Ok(scim_json(
        StatusCode::OK,
        &contract::with_locations(body, &auth.base_url),
    ))
}
