//! OpenID Connect Discovery 1.0 for Entra, fetched and checked here rather
//! than by openidconnect, whose discovery rejects the `{tenantid}` issuer
//! template that Entra's `common` and `organizations` documents publish.

use serde_json::Value;
use url::Url;

use crate::client_auth::ClientCredential;
use crate::config::{ConnectionConfig, tenant_segment};
use crate::error::SsoError;
use crate::http::{get_json, host_of};

/// The literal placeholder in the issuer of Entra's multi-tenant discovery
/// documents, e.g. `https://login.microsoftonline.com/{tenantid}/v2.0`.
pub(crate) const TENANT_TEMPLATE: &str = "{tenantid}";

/// Client authentication method at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenEndpointAuth {
    /// `client_secret_post`: credentials in the form body.
    Post,
    /// `client_secret_basic`: credentials in the Authorization header.
    Basic,
    /// `private_key_jwt`: a client assertion signed with the certificate's
    /// key, in the form body.
    PrivateKeyJwt,
}

/// The members of the discovery document that the relying party uses.
#[derive(Clone, Debug)]
pub(crate) struct ProviderDocument {
    /// The issuer exactly as published, possibly with [`TENANT_TEMPLATE`].
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub end_session_endpoint: Option<Url>,
    pub token_endpoint_auth: TokenEndpointAuth,
}

/// Fetches `{authority}/.well-known/openid-configuration` and applies the
/// issuer rules of the configured mode.
pub(crate) async fn discover(
    config: &ConnectionConfig,
    allowed_tenants: &[String],
    client: &reqwest::Client,
) -> Result<ProviderDocument, SsoError> {
    let url = config.discovery_url();
    let document = get_json(client, &url).await?;
    parse_document(config, allowed_tenants, &document)
}

/// Picks how the client authenticates at the token endpoint.
fn token_endpoint_auth(
    config: &ConnectionConfig,
    document: &Value,
) -> Result<TokenEndpointAuth, String> {
    // RFC 8414 §2 defaults an absent list to client_secret_basic.
    let methods = if document
        .get("token_endpoint_auth_methods_supported")
        .is_none()
    {
        vec!["client_secret_basic".to_string()]
    } else {
        string_list(document, "token_endpoint_auth_methods_supported")
    };
    let has = |wanted: &str| methods.iter().any(|method| method == wanted);
    match config.credential {
        ClientCredential::Certificate(_) if has("private_key_jwt") => {
            Ok(TokenEndpointAuth::PrivateKeyJwt)
        }
        ClientCredential::Certificate(_) => Err(format!(
            "`token_endpoint_auth_methods_supported` is {methods:?}, which lacks \
             private_key_jwt; this provider needs a client_secret instead of a certificate"
        )),
        // Entra lists client_secret_post first, which also avoids the
        // form-encoding of credentials that client_secret_basic requires
        // (RFC 6749 §2.3.1).
        ClientCredential::Secret(_) if has("client_secret_post") => Ok(TokenEndpointAuth::Post),
        ClientCredential::Secret(_) if has("client_secret_basic") => Ok(TokenEndpointAuth::Basic),
        ClientCredential::Secret(_) => Err(format!(
            "`token_endpoint_auth_methods_supported` is {methods:?}, which has neither \
             client_secret_post nor client_secret_basic"
        )),
    }
}

/// Checks a discovery document against the configuration.
pub(crate) fn parse_document(
    config: &ConnectionConfig,
    allowed_tenants: &[String],
    document: &Value,
) -> Result<ProviderDocument, SsoError> {
    let host = host_of(&config.authority);
    let invalid = |problem: String| SsoError::InvalidDiscovery {
        host: host.clone(),
        problem,
    };

    let issuer = document
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the `issuer` member is missing or not a string".to_string()))?
        .to_string();
    check_issuer(config, allowed_tenants, &issuer)?;

    let authorization_endpoint = endpoint(config, document, "authorization_endpoint")?
        .ok_or_else(|| invalid("the `authorization_endpoint` member is missing".to_string()))?;
    let token_endpoint = endpoint(config, document, "token_endpoint")?
        .ok_or_else(|| invalid("the `token_endpoint` member is missing".to_string()))?;
    let jwks_uri = endpoint(config, document, "jwks_uri")?
        .ok_or_else(|| invalid("the `jwks_uri` member is missing".to_string()))?;
    let end_session_endpoint = endpoint(config, document, "end_session_endpoint")?;

    // OpenID Connect Discovery 1.0 §3 makes this member required, and RS256
    // is the only algorithm this relying party verifies.
    let algorithms = string_list(document, "id_token_signing_alg_values_supported");
    if !algorithms.iter().any(|alg| alg == "RS256") {
        return Err(invalid(format!(
            "`id_token_signing_alg_values_supported` is {algorithms:?} and does not contain RS256"
        )));
    }

    // The callback must be a GET so that SameSite=Lax session cookies arrive
    // with it; form_post is a cross-site POST that drops them.
    if document.get("response_modes_supported").is_some() {
        let modes = string_list(document, "response_modes_supported");
        if !modes.iter().any(|mode| mode == "query") {
            return Err(invalid(format!(
                "`response_modes_supported` is {modes:?} and does not contain query"
            )));
        }
    }

    let token_endpoint_auth = token_endpoint_auth(config, document).map_err(invalid)?;

    // `code_challenge_methods_supported` is deliberately not read: Entra
    // omits it although it accepts PKCE S256, so PKCE is always sent.

    Ok(ProviderDocument {
        issuer,
        authorization_endpoint,
        token_endpoint,
        jwks_uri,
        end_session_endpoint,
        token_endpoint_auth,
    })
}

/// Applies the issuer rule of the configured mode to the published issuer.
fn check_issuer(
    config: &ConnectionConfig,
    allowed_tenants: &[String],
    issuer: &str,
) -> Result<(), SsoError> {
    let authority = config.authority_base();
    let is_template = issuer.contains(TENANT_TEMPLATE);

    if is_template && !config.multi_tenant {
        return Err(SsoError::TemplatedIssuer {
            authority,
            issuer: issuer.to_string(),
        });
    }

    if is_template {
        // The template must be the authority itself with the tenant segment
        // (`organizations` or `common`) replaced, which pins host and path.
        let tenant = tenant_segment(&config.authority).unwrap_or_default();
        if issuer.replace(TENANT_TEMPLATE, tenant) != authority {
            return Err(SsoError::DiscoveryIssuerMismatch {
                expected: authority,
                found: issuer.to_string(),
            });
        }
        return Ok(());
    }

    // OpenID Connect Discovery 1.0 §4.3: the issuer must be identical to the
    // URL the document was requested from, minus the well-known suffix.
    if issuer != authority {
        return Err(SsoError::DiscoveryIssuerMismatch {
            expected: authority,
            found: issuer.to_string(),
        });
    }

    if !config.multi_tenant {
        let tenant = tenant_segment(&config.authority)
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !allowed_tenants.contains(&tenant) {
            return Err(SsoError::InvalidConfig {
                field: "allowed_tenants",
                problem: format!(
                    "does not contain `{tenant}`, the tenant of the authority, so no user \
                     could sign in; add it"
                ),
            });
        }
    }
    Ok(())
}

/// Reads an endpoint URL and requires the authority's scheme, host and port,
/// so that a tampered document cannot send the client secret or the code
/// elsewhere.
fn endpoint(
    config: &ConnectionConfig,
    document: &Value,
    member: &'static str,
) -> Result<Option<Url>, SsoError> {
    let Some(value) = document.get(member) else {
        return Ok(None);
    };
    let host = host_of(&config.authority);
    let text = value.as_str().ok_or_else(|| SsoError::InvalidDiscovery {
        host: host.clone(),
        problem: format!("`{member}` is not a string"),
    })?;
    let url = Url::parse(text).map_err(|error| SsoError::InvalidDiscovery {
        host: host.clone(),
        problem: format!("`{member}` is not a valid URL ({error})"),
    })?;
    if url.origin() != config.authority.origin() {
        return Err(SsoError::InvalidDiscovery {
            host,
            problem: format!(
                "`{member}` is on {}, not on the authority's host; check the authority URL",
                host_of(&url)
            ),
        });
    }
    Ok(Some(url))
}

fn string_list(document: &Value, member: &str) -> Vec<String> {
    document
        .get(member)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
