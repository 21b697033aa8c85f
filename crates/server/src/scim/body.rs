//! Request bodies: JSON whatever the content type says, because Entra sends
//! `application/scim+json; charset=utf-8` and some clients send
//! `application/json` or nothing (RFC 7644 §3.1 and Entra's observed traffic).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use lockgate_scim::ScimError;
use lockgate_scim::contract::MAX_PAYLOAD_BYTES;
use serde_json::Value;

use crate::AppState;
use crate::error::ScimFailure;

/// A parsed JSON request body of at most [`MAX_PAYLOAD_BYTES`].
pub(crate) struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ScimFailure;

    async fn from_request(
        request: Request<Body>,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_PAYLOAD_BYTES)
            .await
            .map_err(|_| {
                ScimFailure(ScimError::payload_too_large(format!(
                    "the request body is larger than {MAX_PAYLOAD_BYTES} bytes; \
                     send fewer members per PATCH"
                )))
            })?;
        if bytes.is_empty() {
            return Err(ScimFailure(ScimError::invalid_syntax(
                "the request body is empty; send a JSON object",
            )));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimFailure(ScimError::invalid_syntax(format!(
                "the request body is not valid JSON ({e}); send a JSON object"
            )))
        })?;
        Ok(JsonBody(value))
    }
}
