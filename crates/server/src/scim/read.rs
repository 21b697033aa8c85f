//! Reads shared by `/Users` and `/Groups`: list with filter and paging
//! (RFC 7644 §3.4.2) and get by id (§3.4.1).

use axum::http::StatusCode;
use axum::response::Response;
use lockgate_scim::ScimError;
use lockgate_scim::render::list_response;
use lockgate_scim::schema::ResourceKind;

use super::ScimAuth;
use super::query::Params;
use super::response::{LoggedResource, render_all, render_one, resource_response, scim_json};
use crate::error::ScimFailure;

pub(crate) async fn list(
    auth: &ScimAuth,
    kind: ResourceKind,
    query: Option<&str>,
) -> Result<Response, ScimFailure> {
    let params = Params::parse(query);
    let list_query = params.list_query(kind)?;
    let projection = params.projection(kind)?;
    let result = match kind {
        ResourceKind::User => auth.store().list_users(&list_query).await?,
        ResourceKind::Group => auth.store().list_groups(&list_query).await?,
    };
    let resources = render_all(auth, kind, &result.resources, &projection).await?;
    let body = list_response(resources, result.total, list_query.start_index);
    let mut response = scim_json(StatusCode::OK, &body);
    response
        .extensions_mut()
        .insert(LoggedResource { kind, id: None });
    Ok(response)
}

pub(crate) async fn get(
    auth: &ScimAuth,
    kind: ResourceKind,
    id: &str,
    query: Option<&str>,
) -> Result<Response, ScimFailure> {
    let projection = Params::parse(query).projection(kind)?;
    let stored = match kind {
        ResourceKind::User => auth.store().get_user(id).await?,
        ResourceKind::Group => auth.store().get_group(id).await?,
    };
    let stored = stored
        .ok_or_else(|| ScimError::not_found(format!("{} \"{id}\" not found", kind.as_str())))?;
    let body = render_one(auth, kind, &stored, &projection).await?;
    Ok(resource_response(
        StatusCode::OK,
        kind,
        &stored,
        Some(&body),
        "",
    ))
}
