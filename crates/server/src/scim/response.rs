//! Building SCIM responses: content type, rendering with `meta`, and the
//! resource id the provisioning log records.

use std::collections::HashMap;

use axum::extract::OriginalUri;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lockgate_scim::ScimError;
use lockgate_scim::render::{Meta, Projection, RenderedMember, render};
use lockgate_scim::schema::ResourceKind;
use lockgate_store::{MemberRow, StoredResource};
use serde_json::Value;

use super::ScimAuth;
use crate::AppState;
use crate::error::{SCIM_CONTENT_TYPE, ScimFailure};

/// The resource a response was about, recorded in the provisioning log.
#[derive(Debug, Clone)]
pub(crate) struct LoggedResource {
    pub kind: ResourceKind,
    pub id: Option<String>,
}

/// Builds a response with a SCIM JSON body.
pub(crate) fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SCIM_CONTENT_TYPE),
    );
    response
}

/// Builds a response about one resource, with `ETag` and, on create, `Location`
/// (RFC 7644 §3.3 and §3.14).
pub(crate) fn resource_response(
    status: StatusCode,
    kind: ResourceKind,
    stored: &StoredResource,
    body: Option<&Value>,
    location: &str,
) -> Response {
    let mut response = match body {
        Some(body) => scim_json(status, body),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("W/\"{}\"", stored.version)) {
        headers.insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Ok(value) = HeaderValue::from_str(location)
    {
        headers.insert(header::LOCATION, value);
    }
    response.extensions_mut().insert(LoggedResource {
        kind,
        id: Some(stored.id.clone()),
    });
    response
}

/// Returns the scheme and host that clients reach Lockgate at.
pub(crate) fn origin(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

pub(crate) fn location(auth: &ScimAuth, kind: ResourceKind, id: &str) -> String {
    format!("{}/{}/{id}", auth.base_url, kind.endpoint())
}

fn meta(auth: &ScimAuth, kind: ResourceKind, stored: &StoredResource) -> Meta {
    Meta {
        created: stored.created_at.clone(),
        last_modified: stored.modified_at.clone(),
        version: stored.version,
        location: location(auth, kind, &stored.id),
    }
}

/// Renders resources of one kind, loading `members` or `groups` only when
/// the projection returns them.
pub(crate) async fn render_all(
    auth: &ScimAuth,
    kind: ResourceKind,
    resources: &[StoredResource],
    projection: &Projection,
) -> Result<Vec<Value>, ScimFailure> {
    let ids: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
    let (attr, rows) = match kind {
        ResourceKind::Group if projection.wants("members") => {
            ("members", auth.store().members_of(&ids).await?)
        }
        ResourceKind::User if projection.wants("groups") => {
            ("groups", auth.store().groups_of(&ids).await?)
        }
        _ => ("", Vec::new()),
    };
    let mut by_owner: HashMap<String, Vec<RenderedMember>> = HashMap::new();
    for row in rows {
        let (owner, member) = rendered_member(auth, kind, row);
        by_owner.entry(owner).or_default().push(member);
    }
    Ok(resources
        .iter()
        .map(|stored| {
            let list = (!attr.is_empty())
                .then(|| by_owner.get(&stored.id).map(Vec::as_slice).unwrap_or(&[]));
            let (members, groups) = match kind {
                ResourceKind::Group => (list, None),
                ResourceKind::User => (None, list),
            };
            let rendered = render(
                kind,
                &stored.id,
                &stored.document,
                &meta(auth, kind, stored),
                members,
                groups,
            );
            projection.apply(kind, rendered)
        })
        .collect())
}

fn rendered_member(
    auth: &ScimAuth,
    kind: ResourceKind,
    row: MemberRow,
) -> (String, RenderedMember) {
    match kind {
        ResourceKind::Group => {
            let member_kind = if row.member_kind == "Group" {
                ResourceKind::Group
            } else {
                ResourceKind::User
            };
            let member = RenderedMember {
                location: location(auth, member_kind, &row.member_id),
                value: row.member_id,
                display: row.display,
                kind: row.member_kind,
            };
            (row.group_id, member)
        }
        ResourceKind::User => {
            let member = RenderedMember {
                location: location(auth, ResourceKind::Group, &row.group_id),
                value: row.group_id,
                display: row.display,
                kind: "Group".into(),
            };
            (row.member_id, member)
        }
    }
}

/// Renders a user just created: it cannot be in any group yet, so the
/// membership query is skipped.
pub(crate) fn render_new_user(
    auth: &ScimAuth,
    stored: &StoredResource,
    projection: &Projection,
) -> Value {
    let kind = ResourceKind::User;
    let groups = projection.wants("groups").then_some(&[][..]);
    let rendered = render(
        kind,
        &stored.id,
        &stored.document,
        &meta(auth, kind, stored),
        None,
        groups,
    );
    projection.apply(kind, rendered)
}

/// Renders one resource for a single-resource response.
pub(crate) async fn render_one(
    auth: &ScimAuth,
    kind: ResourceKind,
    stored: &StoredResource,
    projection: &Projection,
) -> Result<Value, ScimFailure> {
    let mut all = render_all(auth, kind, std::slice::from_ref(stored), projection).await?;
    Ok(all.pop().unwrap_or(Value::Null))
}

/// 404 for any path under the SCIM base URL that has no endpoint.
pub(crate) async fn not_found(OriginalUri(uri): OriginalUri) -> ScimFailure {
    ScimFailure(ScimError::not_found(format!(
        "no SCIM endpoint at {}; Lockgate serves /Users, /Groups, /Schemas, \
         /ResourceTypes and /ServiceProviderConfig",
        uri.path()
    )))
}

/// 405 with a SCIM error body, for a method an endpoint does not support.
pub(crate) async fn method_not_allowed(
    method: Method,
    OriginalUri(uri): OriginalUri,
) -> ScimFailure {
    ScimFailure(ScimError::new(
        405,
        None,
        format!(
            "{method} is not supported on {}; the Allow header lists the methods that are",
            uri.path()
        ),
    ))
}
