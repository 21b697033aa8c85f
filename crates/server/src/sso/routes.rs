//! The browser side of single sign-on: `/auth/{tenant}/login` sends the
//! browser to the provider, `/auth/{tenant}/callback` finishes the sign-in
//! (OIDC Core §3.1.2.5) and `/auth/{tenant}/frontchannel-logout` ends the
//! sessions of a provider session, as Entra's front-channel logout asks
//! with `sid` alone.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lockgate_domain::role::Role;
use lockgate_domain::timestamp;
use lockgate_sso::{AuthorizeOptions, PendingLogin};
use lockgate_store::{NewSession, PendingSignIn, Secret, hash_secret_text};
use serde_json::json;

use super::link::{LinkFailure, link};
use super::registry::relying_party;
use crate::AppState;
use crate::admin::auth::cookie_value;
use crate::web::cookies as cookie;
use crate::web::{SESSION_COOKIE, problem};

/// Binds a sign-in in progress to the browser that started it.
const SIGN_IN_COOKIE: &str = "lg_sign_in";
/// A sign-in must come back from the provider within this time.
const SIGN_IN_MAX_AGE: time::Duration = time::Duration::minutes(10);

/// Keeps `return_to` on this site: a path, never another origin.
fn safe_return(slug: &str, requested: Option<&String>) -> String {
    let fallback = format!("/portal/{slug}");
    match requested {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.clone()
        }
        _ => fallback,
    }
}

/// `GET /auth/{tenant}/login?return_to=PATH&auth_context=c1`.
pub(crate) async fn login(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(tenant) = state.tenant(&slug).await.ok().flatten() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "Check the address you were given.",
        );
    };
    let party = match relying_party(&state, &tenant.id, &slug).await {
        Ok(Some((party, _))) => party,
        Ok(None) => {
            return problem(
                StatusCode::NOT_FOUND,
                "Single sign-on is not set up",
                "This tenant has no identity connection yet. A tenant admin sets it up; in an emergency, use a break-glass account.",
            );
        }
        Err(error) => {
            tracing::error!(tenant = %slug, %error, "identity provider unavailable");
            return problem(
                StatusCode::BAD_GATEWAY,
                "Identity provider unavailable",
                &format!("Lockgate could not reach the identity provider: {error}"),
            );
        }
    };
    let options = AuthorizeOptions {
        required_auth_context: query.get("auth_context").cloned(),
        ..AuthorizeOptions::default()
    };
    let (url, pending) = party.authorize(options);
    let browser = Secret::generate("");
    let record = PendingSignIn {
        tenant_id: tenant.id.clone(),
        browser_hash: hash_secret_text(browser.expose()),
        pending: serde_json::to_value(&pending).expect("pending sign-in serializes"),
        return_to: safe_return(&slug, query.get("return_to")),
        created_at: timestamp::now(),
    };
    if let Err(error) = state
        .store
        .put_pending_sign_in(&pending.state, &record)
        .await
    {
        tracing::error!(%error, "storing a sign-in failed");
        return problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "Try again.",
        );
    }
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        url.as_str().parse().expect("the provider URL is valid"),
    );
    headers.insert(
        SET_COOKIE,
        cookie::set(
            SIGN_IN_COOKIE,
            browser.expose(),
            "Lax",
            SIGN_IN_MAX_AGE.whole_seconds(),
        ),
    );
    response
}

/// `GET /auth/{tenant}/callback?code=...&state=...` or `?error=...`.
pub(crate) async fn callback(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match finish(&state, &slug, &query, &headers).await {
        Ok(response) => response,
        Err(page) => page,
    }
}

async fn finish(
    state: &AppState,
    slug: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, Response> {
    let failed = |title: &str, text: &str| problem(StatusCode::FORBIDDEN, title, text);
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        return Err(failed(
            "Sign-in was not completed",
            &format!("The identity provider answered {error}: {description}"),
        ));
    }
    let (Some(code), Some(returned_state)) = (query.get("code"), query.get("state")) else {
        return Err(failed(
            "Sign-in was not completed",
            "The callback lacks code or state; start again from the sign-in page.",
        ));
    };
    let tenant = state
        .tenant(slug)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| failed("Unknown tenant", "Check the address you were given."))?;
    let internal = |e: String| {
        tracing::error!(error = %e, "sign-in failed");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "An internal error occurred; try again.",
        )
    };
    // The state is taken out of the store, so a replayed callback fails.
    let record = state
        .store
        .take_pending_sign_in(returned_state, SIGN_IN_MAX_AGE)
        .await
        .map_err(|e| internal(e.to_string()))?
        .filter(|r| r.tenant_id == tenant.id)
        .ok_or_else(|| failed("Sign-in expired", "This sign-in is unknown, was already used or took longer than ten minutes. Start again."))?;
    let browser = cookie_value(headers, SIGN_IN_COOKIE).unwrap_or_default();
    if hash_secret_text(browser) != record.browser_hash {
        return Err(failed(
            "Sign-in started in another browser",
            "The sign-in did not start in this browser, so Lockgate cannot trust it. Start again here.",
        ));
    }
    let pending: PendingLogin =
        serde_json::from_value(record.pending.clone()).map_err(|e| internal(e.to_string()))?;
    let (party, settings) = relying_party(state, &tenant.id, slug)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            failed(
                "Single sign-on is not set up",
                "This tenant has no identity connection.",
            )
        })?;
    let sign_in = party
        .complete(code, &pending)
        .await
        .map_err(|e| failed("Sign-in rejected", &e.to_string()))?;

    let linked = match link(state, &tenant.id, &settings, &sign_in).await {
        Ok(user) => Some(user),
        Err(LinkFailure::Unknown) => None,
        Err(LinkFailure::Inactive) => {
            return Err(failed(
                "Your account is disabled",
                "Your account is disabled in the identity provider, so Lockgate refuses the sign-in. Contact your helpdesk.",
            ));
        }
        Err(LinkFailure::Store(error)) => return Err(internal(error.to_string())),
    };
    let mapped = settings
        .role_mapping
        .role_of(&sign_in.roles, &sign_in.groups);
    let role = match (mapped, &linked) {
        (Some(role), _) => role,
        (None, Some(_)) => Role::LockerUser,
        (None, None) => {
            return Err(failed(
                "Not a Lockgate user",
                "Your account has not been provisioned to Lockgate and holds no Lockgate role. Ask your administrator to assign you to the Lockgate application in Entra.",
            ));
        }
    };
    let display = sign_in
        .name
        .clone()
        .or_else(|| sign_in.preferred_username.clone())
        .unwrap_or_else(|| sign_in.oid.clone());
    let (session_cookie, _) = state
        .store
        .create_session(NewSession {
            tenant_id: tenant.id.clone(),
            principal: format!("{}:{}", sign_in.tid, sign_in.oid),
            user_id: linked,
            display_name: display,
            roles: vec![role.as_str().to_string()],
            auth_contexts: sign_in.auth_contexts.clone(),
            idp_session: sign_in.sid.clone(),
            logout_hint: sign_in.login_hint.clone(),
            lifetime: state.config.session_lifetime,
        })
        .await
        .map_err(|e| internal(e.to_string()))?;
    audit_sign_in(state, &tenant.id, &sign_in, role).await;

    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        record
            .return_to
            .parse()
            .map_err(|_| internal("bad return_to".into()))?,
    );
    headers.append(
        SET_COOKIE,
        cookie::set(
            SESSION_COOKIE,
            session_cookie.expose(),
            "Lax",
            state.config.session_lifetime.whole_seconds(),
        ),
    );
    headers.append(SET_COOKIE, cookie::clear(SIGN_IN_COOKIE));
    Ok(response)
}

async fn audit_sign_in(
    state: &AppState,
    tenant_id: &str,
    sign_in: &lockgate_sso::SignIn,
    role: Role,
) {
    let draft = lockgate_store::AuditDraft {
        actor: lockgate_domain::audit::Actor::Admin(format!("{}:{}", sign_in.tid, sign_in.oid)),
        source: Some("sign-in".to_string()),
        action: "signed_in".to_string(),
        subject: format!("{}:{}", sign_in.tid, sign_in.oid),
        detail: json!({"role": role, "auth_contexts": sign_in.auth_contexts, "groups_from_graph": sign_in.groups_from_graph}),
    };
    if let Err(error) = state
        .store
        .tenant(tenant_id)
        .append_audit(vec![draft])
        .await
    {
        tracing::error!(%error, "auditing a sign-in failed");
    }
}

/// `GET /auth/{tenant}/frontchannel-logout?sid=...`. Entra loads it in a
/// hidden frame without the session cookie, so sessions are found by the
/// provider's session id.
pub(crate) async fn frontchannel_logout(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let (Some(tenant), Some(sid)) = (state.tenant(&slug).await.ok().flatten(), query.get("sid"))
    {
        match state
            .store
            .end_sessions_by_idp_session(&tenant.id, sid)
            .await
        {
            Ok(ended) => tracing::info!(tenant = %slug, ended, "front-channel logout"),
            Err(error) => tracing::error!(%error, "front-channel logout failed"),
        }
    }
    crate::web::page(StatusCode::OK, "Signed out", "<p>Signed out.</p>")
}
