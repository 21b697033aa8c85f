//! The OAuth 2.0 token endpoint for SCIM clients: the client-credentials
//! grant (RFC 6749 §4.4), which Entra's provisioning service can use in
//! place of a long-lived secret token. Entra sends the client credentials
//! either as HTTP Basic (`client_secret_basic`) or in the form body
//! (`client_secret_post`), so both are accepted.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/token", post(token)).route(
        "/authorize",
        axum::routing::get(crate::app_oauth::authorize),
    )
}

/// An error response of RFC 6749 §5.2.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed: unknown client_id, revoked client or wrong secret; \
                 create a client with `lockgate oauth-client create TENANT`",
            )
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(response.headers_mut());
        if self.basic_challenge {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Lockgate\""),
            );
        }
        response
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

async fn token(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthError> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());

    match field("grant_type").as_deref() {
        Some("client_credentials") => {}
        Some(grant @ ("authorization_code" | "refresh_token")) => {
            return app_grant(&state, &slug, grant, &field).await;
        }
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type {other:?} is not supported; use client_credentials, \
                     or authorization_code and refresh_token for the Lockgate app"
                ),
            ));
        }
        None => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing; send grant_type=client_credentials as a form field",
            ));
        }
    }

    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(parse_basic)
        .transpose()?;
    let used_basic = basic.is_some();
    let (client_id, client_secret) = match (basic, field("client_id"), field("client_secret")) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client credentials are missing; send them as HTTP Basic or as client_id and client_secret form fields",
            ));
        }
    };

    let tenant = match state.tenant(&slug).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return Err(OAuthError::invalid_client(used_basic)),
        Err(e) => return Err(server_error(e)),
    };
    let issued = state
        .store
        .issue_access_token(
            &tenant.id,
            &client_id,
            &client_secret,
            state.config.access_token_lifetime,
        )
        .await
        .map_err(server_error)?
        .ok_or_else(|| OAuthError::invalid_client(used_basic))?;
    tracing::info!(tenant = %tenant.slug, client_id, "issued a SCIM access token");

    let body = serde_json::json!({
        "access_token": issued.token.expose(),
        "token_type": "Bearer",
        "expires_in": issued.expires_in.as_secs(),
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// The mobile app's grants (RFC 8252), answered in the same format.
async fn app_grant(
    state: &AppState,
    slug: &str,
    grant: &str,
    field: &impl Fn(&str) -> Option<String>,
) -> Result<Response, OAuthError> {
    let tenant = match state.tenant(slug).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => return Err(OAuthError::invalid_client(false)),
        Err(e) => return Err(server_error(e)),
    };
    match crate::app_oauth::grant(state, &tenant.id, grant, field).await {
        Ok(body) => {
            let mut response = (StatusCode::OK, axum::Json(body)).into_response();
            no_store(response.headers_mut());
            Ok(response)
        }
        Err((error, description)) => {
            let status = if error == "server_error" {
                StatusCode::INTERNAL_SERVER_ERROR
            } else if error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(OAuthError::new(status, error, description))
        }
    }
}

fn server_error(e: lockgate_store::StoreError) -> OAuthError {
    tracing::error!(error = %e, "token endpoint storage failed");
    OAuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal error",
    )
}

/// Decodes `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let malformed = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the Authorization header is not valid HTTP Basic credentials",
        )
    };
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((unescape(id), unescape(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        let (id, secret) = parse_basic(&header).map_err(|e| e.description).unwrap();
        assert_eq!(id, "my client");
        assert_eq!(secret, "s:cret");
    }

    #[test]
    fn malformed_basic_is_invalid_request() {
        let err = parse_basic("Basic !!!").err().unwrap();
        assert_eq!(err.error, "invalid_request");
    }
}
