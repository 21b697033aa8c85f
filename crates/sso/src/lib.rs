//! OpenID Connect relying party for Microsoft Entra ID: the authorization
//! code flow with PKCE, ID token validation with Entra's issuer and tenant
//! rules, signing key rollover, and group overage through Microsoft Graph.
//! It has no HTTP routes and no storage.
//!
//! Dependencies and why each is here:
//! - `openidconnect`: builds the authorization URL (PKCE S256, `state`,
//!   `nonce`), sends the code and client credentials token requests, and
//!   verifies the ID token's RS256 signature, `aud`, `exp` and `nonce`.
//! - `reqwest`: the HTTP client, version 0.12 as in the rest of the
//!   workspace. openidconnect's own reqwest support is off, and its requests
//!   go through an adapter that adds the timeout and redirect checks.
//! - `base64`: decodes the JWT header to pick the key by `kid` and reject
//!   algorithms other than RS256 before verification.
//! - `chrono`: the clock type that openidconnect's verifier takes.
//! - `serde`, `serde_json`: discovery, JWKS and Graph documents, and the
//!   serialisable [`PendingLogin`] and [`SignIn`].
//! - `thiserror`: [`SsoError`]. `tokio`: async locks of the key and Graph
//!   token caches. `tracing`: logs. `url`: URLs.
//! - `x509-cert`, `rsa`, `sha2`, `uuid`: certificate credentials. The
//!   certificate's validity and thumbprint come from `x509-cert`, the PS256
//!   client assertion is signed with `rsa`, and `uuid` gives its `jti`.
//!   All are RustCrypto crates that `openidconnect` already builds on.
//!
//! Test-only: `axum` serves the in-process fake Entra, which signs its
//! tokens with fixed test keys and checks PKCE and client assertions.

mod authorize;
mod client_auth;
mod config;
mod discovery;
mod error;
mod graph;
mod http;
mod id_token;
mod keys;
mod oidc_client;
mod relying_party;
mod sign_in;

pub use authorize::{AuthorizeOptions, PendingLogin};
pub use client_auth::{ClientCertificate, ClientCredential};
pub use config::{ClientSecret, ConnectionConfig, DEFAULT_CLOCK_SKEW, DEFAULT_GRAPH_BASE_URL};
pub use error::SsoError;
pub use http::{HTTP_TIMEOUT, http_client};
pub use relying_party::RelyingParty;
pub use sign_in::SignIn;

/// Tenant of personal Microsoft accounts. Its users are rejected unless this
/// id is listed in `allowed_tenants`.
pub const PERSONAL_ACCOUNT_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
