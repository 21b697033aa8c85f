//! Sign-out: the local session ends first, then the browser goes to the
//! identity provider's end-session endpoint when the session came from it.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::cookies::{self, SESSION_COOKIE};
use super::page::{escape, page, problem};
use crate::AppState;
use crate::admin::auth::cookie_value;

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /auth/{tenant}/logout` with the session's CSRF token.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let signed_out = format!("/auth/{slug}/signed-out");
    let Some(cookie) = cookie_value(&headers, SESSION_COOKIE) else {
        return redirect(&signed_out);
    };
    let session = state
        .store
        .session(cookie, state.config.session_idle)
        .await
        .ok()
        .flatten();
    let Some(session) = session else {
        return redirect(&signed_out);
    };
    if !bool::from(session.csrf_token.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return problem(
            StatusCode::FORBIDDEN,
            "Sign-out not confirmed",
            "The sign-out request did not come from the portal page. Open the portal and sign out there.",
        );
    }
    if let Err(error) = state.store.end_session(cookie).await {
        tracing::error!(%error, "ending a session failed");
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-out failed",
            "Try again.",
        );
    }
    let target = crate::sso::end_session_target(&state, &session, &slug)
        .await
        .unwrap_or(signed_out);
    let mut response = redirect(&target);
    response
        .headers_mut()
        .insert(SET_COOKIE, cookies::clear(SESSION_COOKIE));
    response
}

/// `GET /auth/{tenant}/signed-out`.
pub(crate) async fn signed_out(Path(slug): Path<String>) -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        &format!(
            "<h1>You are signed out</h1><p><a href=\"/portal/{}\">Sign in again</a></p>",
            escape(&slug)
        ),
    )
}

fn redirect(target: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = target.parse() {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}
