//! OpenID Connect Discovery 1.0 for Entra, fetched and checked here rather
//! than by openidconnect, whose discovery rejects the `{tenantid}` issuer
//! template that Entra's `common` and `organizations` documents publish.

use serde_json::Value;
use url::Url;

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

    // RFC 8414 §2 defaults an absent list to client_secret_basic. Entra lists
    // client_secret_post first, which also avoids the form-encoding of
    // credentials that client_secret_basic requires (RFC 6749 §2.3.1).
    let token_endpoint_auth = if document
        .get("token_endpoint_auth_methods_supported")
        .is_none()
    {
        TokenEndpointAuth::Basic
    } else {
        let methods = string_list(document, "token_endpoint_auth_methods_supported");
        if methods.iter().any(|method| method == "client_secret_post") {
            TokenEndpointAuth::Post
        } else if methods.iter().any(|method| method == "client_secret_basic") {
            TokenEndpointAuth::Basic
        } else {
            return Err(invalid(format!(
                "`token_endpoint_auth_methods_supported` is {methods:?}, which has neither \
                 client_secret_post nor client_secret_basic"
            )));
        }
    };

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
