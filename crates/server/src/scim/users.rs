//! `/Users` (RFC 7644 §3.3 to §3.6).

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lockgate_scim::schema::ResourceKind;
use lockgate_scim::{patch, resource};

use super::ScimAuth;
use super::body::JsonBody;
use super::query::Params;
use super::read;
use super::response::{LoggedResource, location, render_new_user, render_one, resource_response};
use crate::error::ScimFailure;

const KIND: ResourceKind = ResourceKind::User;

type Path2 = Path<(String, String)>;

pub(crate) async fn list(
    auth: ScimAuth,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimFailure> {
    read::list(&auth, KIND, query.as_deref()).await
}

pub(crate) async fn get(
    auth: ScimAuth,
    Path((_, id)): Path2,
    RawQuery(query): RawQuery,
) -> Result<Response, ScimFailure> {
    read::get(&auth, KIND, &id, query.as_deref()).await
}

pub(crate) async fn create(
    auth: ScimAuth,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ScimFailure> {
    let projection = Params::parse(query.as_deref()).projection(KIND)?;
    let document = resource::normalize(KIND, body)?;
    let stored = auth
        .store()
        .create_user(&auth.write_context(), document.value)
        .await?;
    auth.state.access.identity_written();
    let body = render_new_user(&auth, &stored, &projection);
    let location = location(&auth, KIND, &stored.id);
    Ok(resource_response(
        StatusCode::CREATED,
        KIND,
        &stored,
        Some(&body),
        &location,
    ))
}

pub(crate) async fn replace(
    auth: ScimAuth,
    Path((_, id)): Path2,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ScimFailure> {
    let projection = Params::parse(query.as_deref()).projection(KIND)?;
    let document = resource::normalize(KIND, body)?;
    let stored = auth
        .store()
        .update_user(&auth.write_context(), &id, move |_| {
            Ok(document.value.clone())
        })
        .await?;
    user_written(&auth, &stored);
    let body = render_one(&auth, KIND, &stored, &projection).await?;
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &stored,
        Some(&body),
        "",
    ))
}

/// Returns 200 with the resource; Entra accepts 200 or 204 for user PATCH.
pub(crate) async fn patch(
    auth: ScimAuth,
    Path((_, id)): Path2,
    RawQuery(query): RawQuery,
    JsonBody(body): JsonBody,
) -> Result<Response, ScimFailure> {
    let projection = Params::parse(query.as_deref()).projection(KIND)?;
    let operations = patch::parse_operations(KIND, &body)?;
    let stored = auth
        .store()
        .update_user(&auth.write_context(), &id, move |current| {
            Ok(patch::apply(KIND, current.clone(), &operations)?.document)
        })
        .await?;
    user_written(&auth, &stored);
    let body = render_one(&auth, KIND, &stored, &projection).await?;
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &stored,
        Some(&body),
        "",
    ))
}

pub(crate) async fn delete(auth: ScimAuth, Path((_, id)): Path2) -> Result<Response, ScimFailure> {
    auth.store().delete_user(&auth.write_context(), &id).await?;
    // The user is gone, so every credential of theirs must fail from the
    // next decision on, before Entra sees this response.
    auth.state
        .access
        .user_disabled(&auth.tenant.id, &id, i64::MAX, true);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(LoggedResource {
        kind: KIND,
        id: Some(id),
    });
    Ok(response)
}

/// Tells the access runtime about a committed user change. A disabled user
/// loses access in the index before the response is sent, so a badge tap
/// right after Entra's PATCH is already denied.
fn user_written(auth: &ScimAuth, stored: &lockgate_store::StoredResource) {
    let active = stored.document.get("active").and_then(|a| a.as_bool());
    if active == Some(false) {
        auth.state
            .access
            .user_disabled(&auth.tenant.id, &stored.id, stored.version, false);
    } else {
        auth.state.access.identity_written();
    }
}
