//! Sign-in for the mobile app, following OAuth 2.0 for Native Apps
//! (RFC 8252): the app opens the system browser at `/oauth/{tenant}/authorize`
//! with a PKCE challenge (RFC 7636, S256 only), the user signs in with the
//! identity provider (or already has a session), and Lockgate redirects to
//! the app's loopback or private-use-scheme redirect URI with a one-time
//! code. The app exchanges it at the token endpoint for a short-lived
//! access token and a rotating refresh token.

use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lockgate_domain::timestamp;
use lockgate_store::{AppCode, AppTokens, RefreshOutcome};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::AppState;
use crate::access::index::AppToken;
use crate::admin::auth::cookie_value;
use crate::web::{SESSION_COOKIE, problem};

/// The client id of Lockgate's own mobile app, a public client.
pub(crate) const APP_CLIENT_ID: &str = "lockgate-app";
/// A code must be redeemed within this time.
const CODE_LIFETIME: time::Duration = time::Duration::minutes(2);
const ACCESS_LIFETIME: time::Duration = time::Duration::minutes(10);
const REFRESH_LIFETIME: time::Duration = time::Duration::days(30);

/// Returns whether `uri` is a redirect URI a native app may use: a
/// loopback IP literal over http with any port (RFC 8252 §7.3) or a
/// private-use URI scheme from the configuration (§7.1).
fn redirect_allowed(uri: &str, schemes: &[String]) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some() {
        return false;
    }
    match url.scheme() {
        "http" => matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]")),
        scheme => schemes.iter().any(|allowed| allowed == scheme),
    }
}

struct AuthorizeRequest {
    redirect_uri: String,
    code_challenge: String,
    state: Option<String>,
    /// An Entra authentication context the sign-in must satisfy, asked
    /// for after an open was denied with `step_up_required`.
    auth_context: Option<String>,
}

fn parse_authorize(query: &str, schemes: &[String]) -> Result<AuthorizeRequest, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if field("client_id").as_deref() != Some(APP_CLIENT_ID) {
        return Err(format!(
            "client_id must be {APP_CLIENT_ID}, the Lockgate app"
        ));
    }
    let redirect_uri = field("redirect_uri").ok_or("redirect_uri is missing")?;
    if !redirect_allowed(&redirect_uri, schemes) {
        return Err(format!(
            "redirect_uri {redirect_uri:?} is not allowed; use http://127.0.0.1:PORT/... or a private-use scheme the server allows"
        ));
    }
    if field("response_type").as_deref() != Some("code") {
        return Err("response_type must be code".to_string());
    }
    if field("code_challenge_method").as_deref() != Some("S256") {
        return Err("code_challenge_method must be S256 (RFC 7636)".to_string());
    }
    let code_challenge = field("code_challenge").unwrap_or_default();
    let valid_challenge = (43..=128).contains(&code_challenge.len())
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !valid_challenge {
        return Err(
            "code_challenge must be the base64url SHA-256 of the verifier, 43 characters".into(),
        );
    }
    let auth_context = field("auth_context");
    if let Some(context) = &auth_context
        && !(context.len() <= 8 && context.starts_with('c') && context[1..].parse::<u8>().is_ok())
    {
        return Err(format!(
            "auth_context {context:?} is not an authentication context id such as c1"
        ));
    }
    Ok(AuthorizeRequest {
        redirect_uri,
        code_challenge,
        state: field("state"),
        auth_context,
    })
}

/// `GET /oauth/{tenant}/authorize`.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let Some(tenant) = state.tenant(&slug).await.ok().flatten() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "Check the address the app opened.",
        );
    };
    // An invalid client or redirect URI is reported here and never sent to
    // the redirect URI (RFC 6749 §4.1.2.1).
    let request = match parse_authorize(&query, &state.config.app_redirect_schemes) {
        Ok(request) => request,
        Err(reason) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Invalid app sign-in request",
                &reason,
            );
        }
    };
    let session = match cookie_value(&headers, SESSION_COOKIE) {
        Some(cookie) => state
            .store
            .session(cookie, state.config.session_idle)
            .await
            .ok()
            .flatten(),
        None => None,
    }
    .filter(|s| s.tenant_id == tenant.id);
    // Without a session, or without the authentication context the app
    // asks for, the user signs in (again) first and comes back here.
    let satisfied = |s: &lockgate_store::SessionRecord| {
        request
            .auth_context
            .as_ref()
            .is_none_or(|context| s.auth_contexts.contains(context))
    };
    let Some(session) = session.filter(satisfied) else {
        let here = format!("/oauth/{slug}/authorize?{query}");
        let mut login = format!(
            "/auth/{slug}/login?return_to={}",
            url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
        );
        if let Some(context) = &request.auth_context {
            login.push_str(&format!("&auth_context={context}"));
        }
        return redirect(&login);
    };
    let Some(user) = session.user_id.clone() else {
        return problem(
            StatusCode::FORBIDDEN,
            "Not a locker user",
            "This sign-in is not linked to a locker user, so the app cannot act for it. Sign in with your own account.",
        );
    };
    let code = AppCode {
        tenant_id: tenant.id.clone(),
        user_id: user,
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge,
        auth_contexts: session.auth_contexts.clone(),
        created_at: timestamp::now(),
    };
    let secret = match state.store.create_app_code(&code).await {
        Ok(secret) => secret,
        Err(error) => {
            tracing::error!(%error, "issuing an app code failed");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in failed",
                "Try again.",
            );
        }
    };
    let mut target = Url::parse(&request.redirect_uri).expect("checked above");
    target
        .query_pairs_mut()
        .append_pair("code", secret.expose());
    if let Some(value) = &request.state {
        target.query_pairs_mut().append_pair("state", value);
    }
    redirect(target.as_str())
}

fn redirect(target: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = target.parse() {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// A token endpoint failure: `(error, description)` of RFC 6749 §5.2.
pub(crate) type GrantError = (&'static str, String);

/// Handles the app's `authorization_code` and `refresh_token` grants.
pub(crate) async fn grant(
    state: &AppState,
    tenant_id: &str,
    grant_type: &str,
    field: impl Fn(&str) -> Option<String>,
) -> Result<serde_json::Value, GrantError> {
    if field("client_id").as_deref() != Some(APP_CLIENT_ID) {
        return Err((
            "invalid_client",
            format!("client_id must be {APP_CLIENT_ID}"),
        ));
    }
    let internal = |e: lockgate_store::StoreError| {
        tracing::error!(error = %e, "app token grant failed");
        ("server_error", "internal error".to_string())
    };
    let (user, tokens) = match grant_type {
        "authorization_code" => {
            let code = field("code").ok_or(("invalid_request", "code is missing".to_string()))?;
            let verifier = field("code_verifier").ok_or((
                "invalid_request",
                "code_verifier is missing (PKCE is required)".to_string(),
            ))?;
            let stored = state
                .store
                .take_app_code(tenant_id, &code)
                .await
                .map_err(internal)?
                .ok_or((
                    "invalid_grant",
                    "the code is unknown, expired or already used".to_string(),
                ))?;
            check_code(&stored, &verifier, field("redirect_uri").as_deref())?;
            require_active(state, tenant_id, &stored.user_id).await?;
            let tokens = state
                .store
                .issue_app_tokens(
                    tenant_id,
                    &stored.user_id,
                    None,
                    &stored.auth_contexts,
                    ACCESS_LIFETIME,
                    REFRESH_LIFETIME,
                )
                .await
                .map_err(internal)?;
            (stored.user_id, tokens)
        }
        _ => {
            let token = field("refresh_token")
                .ok_or(("invalid_request", "refresh_token is missing".to_string()))?;
            match state
                .store
                .rotate_refresh_token(tenant_id, &token, ACCESS_LIFETIME, REFRESH_LIFETIME)
                .await
                .map_err(internal)?
            {
                RefreshOutcome::Rotated { user_id, tokens } => {
                    require_active(state, tenant_id, &user_id).await?;
                    (user_id, tokens)
                }
                RefreshOutcome::Reused => {
                    return Err((
                        "invalid_grant",
                        "this refresh token was already used, so all tokens of its sign-in are revoked; sign in again".into(),
                    ));
                }
                RefreshOutcome::Invalid => {
                    return Err((
                        "invalid_grant",
                        "the refresh token is unknown, expired or revoked".into(),
                    ));
                }
            }
        }
    };
    remember(state, tenant_id, &user, &tokens).await;
    Ok(serde_json::json!({
        "access_token": tokens.access_token.expose(),
        "token_type": "Bearer",
        "expires_in": ACCESS_LIFETIME.whole_seconds(),
        "refresh_token": tokens.refresh_token.expose(),
    }))
}

fn check_code(
    code: &AppCode,
    verifier: &str,
    redirect_uri: Option<&str>,
) -> Result<(), GrantError> {
    let expired = timestamp::normalize(&code.created_at).is_none_or(|created| {
        created < timestamp::format(time::OffsetDateTime::now_utc() - CODE_LIFETIME)
    });
    if expired {
        return Err(("invalid_grant", "the code expired; sign in again".into()));
    }
    if redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err((
            "invalid_grant",
            "redirect_uri differs from the one the code was issued for".into(),
        ));
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !bool::from(computed.as_bytes().ct_eq(code.code_challenge.as_bytes())) {
        return Err((
            "invalid_grant",
            "code_verifier does not match the code_challenge".into(),
        ));
    }
    Ok(())
}

async fn require_active(state: &AppState, tenant_id: &str, user: &str) -> Result<(), GrantError> {
    let tenant = state
        .access
        .tenant(tenant_id)
        .await
        .map_err(|_| ("server_error", "internal error".to_string()))?;
    let lookup = || tenant.read().users.get(user).map(|e| e.subject.active);
    // A user provisioned a moment ago may wait for the lifecycle engine.
    let active = match lookup() {
        Some(active) => active,
        None => {
            state
                .access
                .settle(tenant_id)
                .await
                .map_err(|_| ("server_error", "internal error".to_string()))?;
            lookup().unwrap_or(false)
        }
    };
    if active {
        Ok(())
    } else {
        Err((
            "invalid_grant",
            "the user is disabled in the identity provider".into(),
        ))
    }
}

/// Puts a new access token into the index, which the app API reads.
async fn remember(state: &AppState, tenant_id: &str, user: &str, tokens: &AppTokens) {
    if let Ok(tenant) = state.access.tenant(tenant_id).await {
        let expires_at = crate::access::parse_time(&tokens.access_expires_at);
        tenant.write().user_tokens.insert(
            tokens.access_hash.clone(),
            AppToken {
                user: user.to_string(),
                expires_at,
                auth_contexts: tokens.auth_contexts.clone(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_redirects_follow_rfc_8252() {
        let schemes = vec!["com.example.lockers".to_string()];
        assert!(redirect_allowed(
            "http://127.0.0.1:49152/callback",
            &schemes
        ));
        assert!(redirect_allowed("http://[::1]:5000/cb", &schemes));
        assert!(redirect_allowed(
            "com.example.lockers:/oauth2redirect",
            &schemes
        ));
        assert!(!redirect_allowed("http://localhost:5000/cb", &schemes));
        assert!(!redirect_allowed("https://evil.example/cb", &schemes));
        assert!(!redirect_allowed("http://127.0.0.1:5000/cb#frag", &schemes));
        assert!(!redirect_allowed("other.scheme:/cb", &schemes));
    }
}
