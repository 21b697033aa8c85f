//! Errors of the relying party.
//!
//! Every message names the value that failed and what to do about it. No
//! message contains a token, a nonce, a PKCE verifier or the client secret.

use crate::PERSONAL_ACCOUNT_TENANT;

/// A failed discovery, sign-in or token verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SsoError {
    /// A `ConnectionConfig` value is unusable.
    #[error("invalid SSO configuration: `{field}` {problem}")]
    InvalidConfig {
        field: &'static str,
        problem: String,
    },

    /// Single-tenant mode met the `{tenantid}` issuer template of the
    /// `common` or `organizations` discovery document.
    #[error(
        "the discovery document of {authority} publishes the multi-tenant issuer template \
         `{issuer}`; set the authority to https://<host>/<tenant-guid>/v2.0 for one tenant, \
         or set multi_tenant to accept the template with an allowed_tenants list"
    )]
    TemplatedIssuer { authority: String, issuer: String },

    /// The discovery document's `issuer` is not the configured authority.
    #[error(
        "the discovery document's issuer `{found}` does not equal the configured authority \
         `{expected}`; set the authority to exactly that issuer, which names the tenant by its \
         GUID and not by a domain name"
    )]
    DiscoveryIssuerMismatch { expected: String, found: String },

    /// The discovery document lacks a member or lists an unusable value.
    #[error("the discovery document from {host} is invalid: {problem}")]
    InvalidDiscovery { host: String, problem: String },

    /// An HTTP request failed, timed out, returned an error status or was
    /// redirected to another host.
    #[error("HTTP request to {host} failed: {problem}")]
    Http {
        host: String,
        status: Option<u16>,
        problem: String,
    },

    /// The token endpoint rejected the authorization code (RFC 6749 §5.2).
    #[error(
        "the token endpoint rejected the authorization code with `{error}`{}; start a new \
         sign-in, because a code can be redeemed once and expires within minutes",
        describe(description)
    )]
    CodeRejected {
        error: String,
        description: Option<String>,
    },

    /// The token endpoint rejected the client's own credentials (RFC 6749
    /// §5.2 `invalid_client` or `unauthorized_client`).
    #[error(
        "the token endpoint rejected this client with `{error}`{}; check client_id and \
         its client_secret or certificate, since both expire in Entra",
        describe(description)
    )]
    ClientRejected {
        error: String,
        description: Option<String>,
    },

    /// The token endpoint returned something that is not a token response.
    #[error("the token endpoint on {host} returned an invalid response: {problem}")]
    InvalidTokenResponse { host: String, problem: String },

    /// The token response has no `id_token` although `openid` was requested.
    #[error(
        "the token response contains no ID token although the openid scope was requested; \
         check that the authority is an OpenID Connect v2.0 endpoint"
    )]
    MissingIdToken,

    /// The ID token is not a JWS compact serialization with JSON header and claims.
    #[error("the ID token is malformed: {problem}")]
    MalformedIdToken { problem: String },

    /// The ID token's `alg` is not RS256.
    #[error(
        "the ID token is signed with `{alg}`, but only RS256 is accepted because Entra signs \
         ID tokens with RS256 keys from its JWKS"
    )]
    UnsupportedAlgorithm { alg: String },

    /// The ID token header has no `kid`.
    #[error("the ID token header has no `kid`, so no signing key can be selected from the JWKS")]
    MissingKeyId,

    /// No key with the token's `kid` is published, even after a refresh.
    #[error(
        "no signing key with kid `{kid}` is published at {jwks_host}; either the token was not \
         issued by this provider, or the key is new and the JWKS was refreshed less than 5 \
         minutes ago, so retry the sign-in in a few minutes"
    )]
    UnknownSigningKey { kid: String, jwks_host: String },

    /// The signature does not verify with the published key.
    #[error("the ID token signature does not verify with the published key `{kid}`")]
    InvalidSignature { kid: String },

    /// `aud` does not contain the client ID.
    #[error(
        "the ID token audience {found:?} does not contain this client ID `{expected}`; the token \
         was issued to another application"
    )]
    AudienceMismatch {
        expected: String,
        found: Vec<String>,
    },

    /// Several audiences without `azp` naming this client.
    #[error(
        "the ID token has several audiences, so `azp` must be this client ID `{expected}`, but \
         it is {found:?}"
    )]
    AuthorizedPartyMismatch {
        expected: String,
        found: Option<String>,
    },

    /// `iss` does not equal the expected issuer.
    #[error("the ID token issuer `{found}` does not equal the expected issuer `{expected}`")]
    IssuerMismatch { expected: String, found: String },

    /// `exp` lies in the past, beyond the allowed clock skew.
    #[error(
        "the ID token expired at {expires_at} (Unix seconds; now {now}, allowed clock skew \
         {skew_seconds} s); start a new sign-in"
    )]
    Expired {
        expires_at: i64,
        now: i64,
        skew_seconds: u64,
    },

    /// `nbf` lies in the future, beyond the allowed clock skew.
    #[error(
        "the ID token is not valid before {not_before} (Unix seconds; now {now}, allowed clock \
         skew {skew_seconds} s); check that this server's clock is synchronised"
    )]
    NotYetValid {
        not_before: i64,
        now: i64,
        skew_seconds: u64,
    },

    /// `nonce` is missing or differs from the one sent with this sign-in.
    #[error(
        "the ID token nonce is missing or differs from the nonce sent with this sign-in; \
         start a new sign-in"
    )]
    NonceMismatch,

    /// The ID token's `ver` is not `2.0`.
    #[error(
        "the ID token has version `{ver}`, but only v2.0 tokens are accepted; use an authority \
         that ends in /v2.0"
    )]
    UnsupportedTokenVersion { ver: String },

    /// A required claim is absent.
    #[error("the ID token has no `{claim}` claim; {hint}")]
    MissingClaim {
        claim: &'static str,
        hint: &'static str,
    },

    /// A claim has the wrong type or form.
    #[error("the ID token claim `{claim}` is invalid: {problem}")]
    InvalidClaim {
        claim: &'static str,
        problem: String,
    },

    /// `tid` is not in `allowed_tenants`.
    #[error(
        "tenant `{tid}` is not in allowed_tenants; add its GUID there if its users may sign in"
    )]
    TenantNotAllowed { tid: String },

    /// A personal Microsoft account signed in and the personal-account tenant
    /// is not in `allowed_tenants`.
    #[error(
        "personal Microsoft accounts (tenant {PERSONAL_ACCOUNT_TENANT}) may not sign in; use a \
         work or school account of an allowed tenant"
    )]
    PersonalAccountNotAllowed,

    /// The sign-in did not satisfy the requested authentication context.
    #[error(
        "the sign-in did not satisfy the authentication context `{required}` (the ID token's \
         acrs claim is {found:?}); start a new sign-in that requests it, and check the \
         Conditional Access policy bound to it"
    )]
    AuthContextMissing {
        required: String,
        found: Vec<String>,
    },

    /// Group overage could not be resolved through Microsoft Graph.
    #[error(
        "group membership of user `{oid}` in tenant `{tid}` could not be determined: the ID \
         token reports more groups than fit into it and Microsoft Graph failed ({problem}); the \
         sign-in is rejected instead of being treated as having no groups, so retry later or \
         grant the application the Graph permissions User.ReadBasic.All and \
         GroupMember.Read.All"
    )]
    GroupsUnavailable {
        tid: String,
        oid: String,
        problem: String,
    },

    /// The callback's `state` is not the state of this sign-in.
    #[error(
        "the callback state does not match the state of this sign-in (RFC 6749 §10.12); start a \
         new sign-in"
    )]
    StateMismatch,
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(text) => format!(" ({text})"),
        None => String::new(),
    }
}
