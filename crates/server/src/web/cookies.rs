//! The cookies of browser sign-in. Every one is `HttpOnly` and `Secure`;
//! the session cookie is `SameSite=Lax` so the provider's redirect back
//! (a top-level GET) carries it, and form cookies are `Strict`.

use axum::http::HeaderValue;

pub(crate) use crate::admin::auth::SESSION_COOKIE;

/// Double-submit token of forms shown before sign-in.
pub(crate) const FORM_COOKIE: &str = "lg_form";

pub(crate) fn set(name: &str, value: &str, same_site: &str, max_age_secs: i64) -> HeaderValue {
    let text = format!(
        "{name}={value}; Path=/; HttpOnly; Secure; SameSite={same_site}; Max-Age={max_age_secs}"
    );
    HeaderValue::from_str(&text).expect("cookie values are URL-safe base64")
}

pub(crate) fn clear(name: &str) -> HeaderValue {
    set(name, "", "Lax", 0)
}
