//! What the lifecycle engine did: open assignments, the notification
//! outbox, and the tenant settings it follows; and ending an assignment
//! by hand.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use lockgate_domain::access::model::LockerId;
use lockgate_store::{AssignmentRow, AuditDraft};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AdminAuth, ApiJson, ApiQuery, FacilityManager, Helpdesk, TenantAdmin};
use crate::AppState;
use crate::error::ApiFailure;

/// An open assignment with its holder's names, so that a helpdesk can tell who
/// holds a locker without looking the user up.
#[derive(Debug, Serialize)]
pub(crate) struct AssignmentView {
    #[serde(flatten)]
    row: AssignmentRow,
    /// The holder's SCIM `userName`, or `None` for a user missing from the
    /// index.
    user_name: Option<String>,
    display_name: Option<String>,
}

/// `POST /assignments/{assignment}/end`: ends an open assignment now and
/// returns its locker, which waits for clear-out. A holder still entitled
/// under a policy that assigns lockers gets another when one is free.
pub(crate) async fn end_assignment(
    State(state): State<AppState>,
    auth: AdminAuth<FacilityManager>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<lockgate_store::LockerRecord>, ApiFailure> {
    state.access.settle(&auth.tenant.id).await?;
    let locker = state
        .access
        .end_assignment(&auth.tenant.id, &id, &auth.actor)
        .await?;
    let tenant = state.store.tenant(&auth.tenant.id);
    let record = tenant.get_locker(locker.as_str()).await?.ok_or_else(|| {
        ApiFailure::not_found(format!("locker \"{locker}\" was deleted meanwhile"))
    })?;
    Ok(Json(record))
}

/// `GET /assignments`: open assignments and bookings, filtered by
/// `locker`, `bank` or `user` (id or `userName`) when given.
pub(crate) async fn assignments(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<AssignmentView>>, ApiFailure> {
    let filter = super::physical::filters(query.as_deref(), &["locker", "bank", "user"])?;
    state.access.settle(&auth.tenant.id).await?;
    let mut rows = state
        .store
        .tenant(&auth.tenant.id)
        .open_assignments()
        .await?;
    // In door order, as lockers are assigned and booked: w3-a-2 before w3-a-10.
    rows.sort_by(|a, b| LockerId::compare_doors(&a.locker_id, &b.locker_id));
    let tenant = state.access.tenant(&auth.tenant.id).await?;
    let index = tenant.read();
    let matches_filter = |row: &AssignmentRow| {
        let locker = LockerId::new(row.locker_id.as_str());
        let bank = index.lockers.get(&locker).map(|l| l.bank.as_str());
        let user = index.users.get(&row.user_id);
        let user_matches = |expected: &String| {
            row.user_id == *expected
                || user.is_some_and(|entry| entry.user_name.eq_ignore_ascii_case(expected))
        };
        filter
            .get("locker")
            .is_none_or(|expected| row.locker_id == *expected)
            && filter
                .get("bank")
                .is_none_or(|expected| bank == Some(expected.as_str()))
            && filter.get("user").is_none_or(user_matches)
    };
    let views = rows
        .into_iter()
        .filter(|row| matches_filter(row))
        .map(|row| {
            let user = index.users.get(&row.user_id);
            AssignmentView {
                user_name: user.map(|entry| entry.user_name.clone()),
                display_name: user.and_then(|entry| entry.display_name.clone()),
                row,
            }
        })
        .collect();
    Ok(Json(views))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboxQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

/// `GET /outbox?limit=N`: notifications, newest first.
pub(crate) async fn outbox(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<Value>>, ApiFailure> {
    if !(1..=1000).contains(&query.limit) {
        return Err(ApiFailure::bad_request(format!(
            "limit {} is out of range; use 1 to 1000",
            query.limit
        )));
    }
    state.access.settle(&auth.tenant.id).await?;
    let entries = state
        .store
        .tenant(&auth.tenant.id)
        .outbox(query.limit)
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|(seq, entry, at)| {
                json!({"seq": seq, "created_at": at, "recipient": entry.recipient,
                       "user": entry.user_id, "kind": entry.kind, "detail": entry.detail})
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The SCIM attribute that carries badge numbers, such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`
    /// or a custom extension attribute; `null` turns badge mapping off.
    /// Required, so that a body without it cannot turn off every badge.
    #[serde(deserialize_with = "Option::deserialize")]
    badge_attribute: Option<String>,
}

/// `GET /settings`.
pub(crate) async fn settings(
    State(state): State<AppState>,
    auth: AdminAuth<Helpdesk>,
) -> Result<Json<Value>, ApiFailure> {
    Ok(Json(state.store.tenant_settings(&auth.tenant.id).await?))
}

/// `PUT /settings`: saves the settings and re-reads every user so badge
/// numbers follow the new attribute. Responds with the settings and
/// `warnings`, such as an attribute no user has a value for.
pub(crate) async fn save_settings(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
    ApiJson(settings): ApiJson<Settings>,
) -> Result<Json<Value>, ApiFailure> {
    if let Some(name) = &settings.badge_attribute
        && (name.trim().is_empty() || name.len() > 256)
    {
        return Err(ApiFailure::bad_request(
            "badge_attribute must name a SCIM attribute, such as employeeNumber, or be null",
        ));
    }
    let value = json!({"badge_attribute": settings.badge_attribute});
    let before = state.store.tenant_settings(&auth.tenant.id).await?;
    let audit = AuditDraft {
        actor: auth.actor.clone(),
        source: AuditDraft::admin_source(&auth.actor),
        action: "settings_changed".to_string(),
        subject: auth.tenant.slug.to_string(),
        detail: json!({"before": before, "after": value}),
    };
    state
        .store
        .set_tenant_settings(&auth.tenant.id, &value, audit)
        .await?;
    state
        .access
        .settings_changed(&auth.tenant.id, settings.badge_attribute.clone())
        .await?;
    let mut warnings = Vec::new();
    if let Some(name) = &settings.badge_attribute {
        let tenant = state.access.tenant(&auth.tenant.id).await?;
        let index = tenant.read();
        if !index.users.is_empty() && index.users.values().all(|user| user.scim_badge.is_none()) {
            warnings.push(format!(
                "no user has a value for \"{name}\", so no badge comes from it; check the \
                 attribute name, such as employeeNumber"
            ));
        }
    }
    let mut body = value;
    body["warnings"] = json!(warnings);
    Ok(Json(body))
}
