//! The authorization request of the code flow and the values the server
//! keeps until the callback.

use std::fmt;

use openidconnect::core::{CoreAuthPrompt, CoreResponseType};
use openidconnect::{AuthenticationFlow, CsrfToken, LoginHint, Nonce, PkceCodeChallenge, Scope};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::SsoError;
use crate::oidc_client::EntraClient;

/// Random bytes in `state`, `nonce` and the PKCE verifier (RFC 7636 §4.1
/// recommends 32), each sent as 43 base64url characters.
const RANDOM_BYTES: u32 = 32;

/// Options of one sign-in.
#[derive(Clone, Debug, Default)]
pub struct AuthorizeOptions {
    /// Pre-fills the account picker (`login_hint`).
    pub login_hint: Option<String>,
    /// Entra authentication context (acrs) to demand, e.g. "c1":
    pub required_auth_context: Option<String>,
    /// Asks Entra to re-authenticate even with a session (`prompt=login`).
    pub prompt_login: bool,
}

/// Sign-in values that the server keeps between the redirect and the
/// callback, bound to the browser session. They include the nonce and the
/// PKCE verifier, so store them server-side or in an encrypted cookie.
/// `Debug` redacts both.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub required_auth_context: Option<String>,
}

impl PendingLogin {
    /// Compares the callback's `state` with this sign-in's, in constant time
    /// (RFC 6749 §10.12).
    pub fn check_state(&self, returned_state: &str) -> Result<(), SsoError> {
        let expected = self.state.as_bytes();
        let returned = returned_state.as_bytes();
        let differences = expected
            .iter()
            .zip(returned)
            .fold(0u8, |acc, (left, right)| acc | (left ^ right));
        if expected.len() == returned.len() && differences == 0 {
            Ok(())
        } else {
            Err(SsoError::StateMismatch)
        }
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"[redacted]")
            .field("pkce_verifier", &"[redacted]")
            .field("required_auth_context", &self.required_auth_context)
            .finish()
    }
}

/// Builds the authorization URL: code flow, PKCE S256, fresh `state` and
/// `nonce`, `response_mode=query`, scopes `openid profile email`.
pub(crate) fn authorization_url(
    client: &EntraClient,
    options: AuthorizeOptions,
) -> (Url, PendingLogin) {
    // PKCE S256 is sent although Entra's discovery document has no
    // `code_challenge_methods_supported`: Entra accepts it, and RFC 7636 §4.2
    // makes S256 the method to use whenever the client can.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(RANDOM_BYTES);

    let mut request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            || CsrfToken::new_random_len(RANDOM_BYTES),
            || Nonce::new_random_len(RANDOM_BYTES),
        )
        // `profile` makes Entra add `oid` and `tid`; `email` is display only.
        .add_scope(Scope::new("profile".to_string()))
        .add_scope(Scope::new("email".to_string()))
        .set_pkce_challenge(challenge)
        // A query callback is a top-level GET, which carries SameSite=Lax
        // cookies; form_post would arrive as a cross-site POST without them.
        .add_extra_param("response_mode", "query");

    if let Some(hint) = &options.login_hint {
        request = request.set_login_hint(LoginHint::new(hint.clone()));
    }
    if options.prompt_login {
        request = request.add_prompt(CoreAuthPrompt::Login);
    }
    if let Some(context) = &options.required_auth_context {
        // OpenID Connect Core 1.0 §5.5 `claims` parameter, in the form Entra
        // documents for Conditional Access authentication context step-up.
        let claims = serde_json::json!({
            "id_token": { "acrs": { "essential": true, "value": context } }
        });
        request = request.add_extra_param("claims", claims.to_string());
    }

    let (url, state, nonce) = request.url();
    let pending = PendingLogin {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        required_auth_context: options.required_auth_context,
    };
    (url, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> PendingLogin {
        PendingLogin {
            state: "state-value".to_string(),
            nonce: "nonce-value".to_string(),
            pkce_verifier: "verifier-value".to_string(),
            required_auth_context: Some("c1".to_string()),
        }
    }

    #[test]
    fn pending_login_debug_redacts_nonce_and_verifier() {
        let text = format!("{:?}", pending());
        assert!(!text.contains("nonce-value"), "{text}");
        assert!(!text.contains("verifier-value"), "{text}");
        assert!(text.contains("state-value"), "{text}");
    }

    #[test]
    fn check_state_accepts_only_the_same_state() {
        let pending = pending();
        assert!(pending.check_state("state-value").is_ok());
        assert!(pending.check_state("state-valuf").is_err());
        assert!(pending.check_state("state-value-longer").is_err());
        assert!(pending.check_state("").is_err());
    }
}
