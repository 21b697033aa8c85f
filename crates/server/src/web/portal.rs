//! The portal page: who is signed in, with which role, their lockers, and
//! the sign-out form carrying the session's CSRF token.

use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::cookies::SESSION_COOKIE;
use super::page::{escape, page, problem};
use crate::AppState;
use crate::admin::auth::{cookie_value, session_role};

/// `GET /portal/{tenant}`.
pub(crate) async fn portal(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(tenant) = state.tenant(&slug).await.ok().flatten() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "Check the address you were given.",
        );
    };
    let session = match cookie_value(&headers, SESSION_COOKIE) {
        Some(cookie) => state
            .store
            .session(cookie, state.config.session_idle)
            .await
            .ok()
            .flatten()
            .filter(|s| s.tenant_id == tenant.id),
        None => None,
    };
    let Some(session) = session else {
        let mut response = StatusCode::SEE_OTHER.into_response();
        let target = format!("/auth/{}/login", tenant.slug);
        response
            .headers_mut()
            .insert(LOCATION, target.parse().expect("slug is URL-safe"));
        return response;
    };
    let role = session_role(&session).map_or("none".to_string(), |r| r.to_string());
    let mut lockers = String::new();
    if let Some(user) = &session.user_id
        && let Ok(access) = state.access.tenant(&tenant.id).await
    {
        let index = access.read();
        for assignment in index.assignments_of(user) {
            let door = index
                .door_of
                .get(&assignment.locker)
                .cloned()
                .unwrap_or_default();
            lockers.push_str(&format!(
                "<tr><td>{}</td><td>door {}</td></tr>",
                escape(assignment.locker.as_str()),
                escape(&door)
            ));
        }
    }
    let lockers = if lockers.is_empty() {
        "<p class=\"note\">You hold no locker.</p>".to_string()
    } else {
        format!("<table><tr><th>Locker</th><th>Door</th></tr>{lockers}</table>")
    };
    let body = format!(
        "<h1>Signed in to {tenant}</h1>\
         <p>You are <strong id=\"display-name\">{name}</strong> with the role <strong id=\"role\">{role}</strong>.</p>\
         <h2>Your lockers</h2>{lockers}\
         <form method=\"post\" action=\"/auth/{tenant}/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Sign out</button></form>",
        tenant = escape(tenant.slug.as_str()),
        name = escape(&session.display_name),
        role = escape(&role),
        csrf = escape(&session.csrf_token),
    );
    page(StatusCode::OK, "Portal", &body)
}
