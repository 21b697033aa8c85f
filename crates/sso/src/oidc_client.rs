//! The openidconnect client, configured from the checked discovery document,
//! and the wording of its token endpoint errors.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AuthType, AuthUrl, Client, ClientId, EmptyExtraTokenFields, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, JsonWebKeySet, RedirectUrl, RequestTokenError, StandardErrorResponse,
    StandardTokenResponse, TokenUrl,
};

use crate::client_auth::ClientCredential;
use crate::config::ConnectionConfig;
use crate::discovery::{ProviderDocument, TokenEndpointAuth};
use crate::error::SsoError;
use crate::http::HttpError;
use crate::id_token::EntraClaims;

pub(crate) type EntraTokenResponse = StandardTokenResponse<
    IdTokenFields<
        EntraClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

pub(crate) type TokenError =
    RequestTokenError<HttpError, StandardErrorResponse<CoreErrorResponseType>>;

/// openidconnect client with authorization and token endpoints set.
pub(crate) type EntraClient = Client<
    EntraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    EntraTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

/// Builds the client. Its own issuer and key set stay unused, because ID
/// tokens are verified with the key cache and the Entra issuer rule.
pub(crate) fn build(config: &ConnectionConfig, provider: &ProviderDocument) -> EntraClient {
    let client = Client::new(
        ClientId::new(config.client_id.clone()),
        IssuerUrl::from_url(config.authority.clone()),
        JsonWebKeySet::new(Vec::new()),
    );
    // Without a secret, openidconnect sends `client_id` in the form body,
    // beside the client assertion that each request adds.
    let client = match (&config.credential, provider.token_endpoint_auth) {
        (ClientCredential::Secret(secret), TokenEndpointAuth::Basic) => client
            .set_client_secret(openidconnect::ClientSecret::new(
                secret.expose_secret().to_string(),
            ))
            .set_auth_type(AuthType::BasicAuth),
        (ClientCredential::Secret(secret), _) => client
            .set_client_secret(openidconnect::ClientSecret::new(
                secret.expose_secret().to_string(),
            ))
            .set_auth_type(AuthType::RequestBody),
        (ClientCredential::Certificate(_), _) => client.set_auth_type(AuthType::RequestBody),
    };
    client
        .set_auth_uri(AuthUrl::from_url(provider.authorization_endpoint.clone()))
        .set_token_uri(TokenUrl::from_url(provider.token_endpoint.clone()))
        .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()))
}

/// Describes a failed token request without its response body, which may
/// contain tokens.
pub(crate) fn describe_token_error(error: &TokenError, host: &str) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref();
            match response.error_description() {
                Some(description) => format!("{host} returned `{code}` ({description})"),
                None => format!("{host} returned `{code}`"),
            }
        }
        RequestTokenError::Request(http) => http.to_string(),
        RequestTokenError::Parse(parse, _body) => {
            format!(
                "{host} returned a response that is not a token response (at `{}`)",
                parse.path()
            )
        }
        RequestTokenError::Other(text) => {
            format!("{host} returned an unexpected response ({text})")
        }
    }
}

/// Maps a failed authorization code redemption to an error.
pub(crate) fn code_exchange_error(error: TokenError, host: &str) -> SsoError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let error = response.error().as_ref().to_string();
            let description = response.error_description().cloned();
            match response.error() {
                CoreErrorResponseType::InvalidClient
                | CoreErrorResponseType::UnauthorizedClient => {
                    SsoError::ClientRejected { error, description }
                }
                _ => SsoError::CodeRejected { error, description },
            }
        }
        RequestTokenError::Request(http) => http.into(),
        other => SsoError::InvalidTokenResponse {
            host: host.to_string(),
            problem: describe_token_error(&other, host),
        },
    }
}
