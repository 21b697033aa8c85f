//! Errors as SCIM clients see them (RFC 7644 §3.12), and the conversions
//! from storage errors. Internal failures are logged here with their detail;
//! the client gets a short message and the request id.

use std::any::Any;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lockgate_scim::ScimError;
use lockgate_store::StoreError;

pub(crate) const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// A SCIM error response.
#[derive(Debug)]
pub(crate) struct ScimFailure(pub ScimError);

impl From<ScimError> for ScimFailure {
    fn from(err: ScimError) -> Self {
        ScimFailure(err)
    }
}

impl From<StoreError> for ScimFailure {
    fn from(err: StoreError) -> Self {
        ScimFailure(match err {
            StoreError::NotFound(what) => ScimError::not_found(format!("{what} not found")),
            StoreError::Conflict(detail) => ScimError::uniqueness(detail),
            StoreError::Invalid(detail) => ScimError::invalid_value(detail),
            StoreError::Scim(scim) => scim,
            other => {
                tracing::error!(error = %other, "storage failed");
                ScimError::internal()
            }
        })
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, self.0.to_json().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(SCIM_CONTENT_TYPE),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Lockgate SCIM\""),
            );
        }
        response.extensions_mut().insert(self.0);
        response
    }
}

/// A JSON error for the admin API: `{"error": ..., "detail": ...}`.
#[derive(Debug)]
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
}

impl ApiFailure {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for ApiFailure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiFailure::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            StoreError::Conflict(detail) => {
                ApiFailure::new(StatusCode::CONFLICT, "conflict", detail)
            }
            StoreError::Invalid(detail) => {
                ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                ApiFailure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the x-request-id header finds the details in the server log",
                )
            }
        }
    }
}

impl ApiFailure {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiFailure::new(StatusCode::NOT_FOUND, "not_found", detail)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "detail": self.detail});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Turns a handler panic into a SCIM-shaped 500 instead of a dropped connection.
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "request handler panicked");
    ScimFailure(ScimError::internal()).into_response()
}

/// Returns the JSON 404 for a path no route serves, naming the path and
/// where the routes are documented, instead of an empty body.
pub(crate) async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiFailure {
    ApiFailure::not_found(format!(
        "no route for {method} {}; the admin, device and app routes are listed in docs/access.md",
        uri.path()
    ))
}
