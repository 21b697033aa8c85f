//! `/Groups` (RFC 7644 §3.3 to §3.6). Group PATCH returns 204 with no body,
//! as Entra prefers, and never echoes the member list.

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lockgate_scim::schema::ResourceKind;
use lockgate_scim::{patch, resource};

use super::ScimAuth;
use super::body::JsonBody;
use super::query::Params;
use super::read;
use super::response::{LoggedResource, location, render_one, resource_response};
use crate::error::ScimFailure;

const KIND: ResourceKind = ResourceKind::Group;

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
    let members = document.members.unwrap_or_default();
    let stored = auth
        .store()
        .create_group(&auth.write_context(), document.value, &members)
        .await?;
    auth.state.access.identity_written();
    let body = render_one(&auth, KIND, &stored, &projection).await?;
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
    // PUT replaces the member list too; a body without `members` empties
    // the group (RFC 7644 §3.5.1).
    let members = patch::MemberChange::Replace(document.members.clone().unwrap_or_default());
    let stored = auth
        .store()
        .update_group(&auth.write_context(), &id, move |_| {
            Ok((document.value.clone(), vec![members.clone()]))
        })
        .await?;
    auth.state.access.identity_written();
    let body = render_one(&auth, KIND, &stored, &projection).await?;
    Ok(resource_response(
        StatusCode::OK,
        KIND,
        &stored,
        Some(&body),
        "",
    ))
}

pub(crate) async fn patch(
    auth: ScimAuth,
    Path((_, id)): Path2,
    JsonBody(body): JsonBody,
) -> Result<Response, ScimFailure> {
    let operations = patch::parse_operations(KIND, &body)?;
    if let Some(changes) = patch::member_only_changes(KIND, &operations)? {
        auth.store()
            .update_group_members(&auth.write_context(), &id, changes)
            .await?;
        auth.state.access.identity_written();
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.extensions_mut().insert(LoggedResource {
            kind: KIND,
            id: Some(id),
        });
        return Ok(response);
    }
    let stored = auth
        .store()
        .update_group(&auth.write_context(), &id, move |current| {
            let outcome = patch::apply(KIND, current.clone(), &operations)?;
            Ok((outcome.document, outcome.member_changes))
        })
        .await?;
    auth.state.access.identity_written();
    Ok(resource_response(
        StatusCode::NO_CONTENT,
        KIND,
        &stored,
        None,
        "",
    ))
}

pub(crate) async fn delete(auth: ScimAuth, Path((_, id)): Path2) -> Result<Response, ScimFailure> {
    auth.store()
        .delete_group(&auth.write_context(), &id)
        .await?;
    auth.state.access.identity_written();
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(LoggedResource {
        kind: KIND,
        id: Some(id),
    });
    Ok(response)
}
