//! Connection settings for one Entra application registration.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::client_auth::ClientCredential;
use crate::error::SsoError;

/// Default Microsoft Graph base URL for the public cloud. National clouds use
/// other hosts, which is why it is configurable.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com";

/// Default allowance for clock differences on `exp` and `nbf`. Relying
/// parties report Entra's `iat` and `nbf` about five minutes in the past, and
/// a server clock running behind Entra's must not reject fresh tokens.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// A client secret. `Debug` prints `[redacted]`, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: impl Into<String>) -> ClientSecret {
        ClientSecret(secret.into())
    }

    /// Returns the clear text, for the token request only.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Settings of the relying party for one Entra application registration.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// Discovery base: `{authority}/.well-known/openid-configuration`, e.g.
    /// `https://login.microsoftonline.com/<tenant-guid>/v2.0` or `.../organizations/v2.0`.
    /// A query such as `?appid=<client-id>` is kept on the discovery request,
    /// which Entra needs for applications with custom signing keys.
    pub authority: Url,
    pub client_id: String,
    /// A client secret, or a certificate for `private_key_jwt`.
    pub credential: ClientCredential,
    /// Entra tenant ids (GUIDs) whose users may sign in. Required, never empty.
    pub allowed_tenants: Vec<String>,
    pub redirect_uri: Url,
    /// Microsoft Graph base for group overage, default https://graph.microsoft.com; tests point it at a local server.
    pub graph_base_url: Url,
    /// Allowance on `exp` and `nbf`, default 300 s.
    pub clock_skew: Duration,
    /// Accept the `{tenantid}` issuer template of the multi-tenant discovery documents (explicit opt-in).
    pub multi_tenant: bool,
}

impl ConnectionConfig {
    /// Creates a single-tenant configuration with the default Graph base URL and clock skew.
    pub fn new(
        authority: Url,
        client_id: impl Into<String>,
        credential: impl Into<ClientCredential>,
        allowed_tenants: Vec<String>,
        redirect_uri: Url,
    ) -> ConnectionConfig {
        ConnectionConfig {
            authority,
            client_id: client_id.into(),
            credential: credential.into(),
            allowed_tenants,
            redirect_uri,
            graph_base_url: Url::parse(DEFAULT_GRAPH_BASE_URL).expect("the default is a valid URL"),
            clock_skew: DEFAULT_CLOCK_SKEW,
            multi_tenant: false,
        }
    }

    /// Checks the values and returns the allowed tenants in lower case.
    pub(crate) fn validate(&self) -> Result<Vec<String>, SsoError> {
        require_secure_url("authority", &self.authority)?;
        require_secure_url("graph_base_url", &self.graph_base_url)?;
        require_secure_url("redirect_uri", &self.redirect_uri)?;

        if self.authority.fragment().is_some() {
            return Err(invalid("authority", "must not have a fragment"));
        }
        if tenant_segment(&self.authority).is_none() {
            return Err(invalid(
                "authority",
                "must name a tenant in its path, e.g. https://login.microsoftonline.com/<tenant-guid>/v2.0",
            ));
        }
        if self.graph_base_url.query().is_some() || self.graph_base_url.fragment().is_some() {
            return Err(invalid(
                "graph_base_url",
                "must not have a query or fragment, e.g. https://graph.microsoft.com",
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(invalid(
                "client_id",
                "is empty; set the application (client) ID of the app registration",
            ));
        }
        if let ClientCredential::Secret(secret) = &self.credential
            && secret.expose_secret().is_empty()
        {
            return Err(invalid(
                "client_secret",
                "is empty; create a client secret for the app registration",
            ));
        }
        if self.allowed_tenants.is_empty() {
            return Err(invalid(
                "allowed_tenants",
                "is empty; list the tenant GUIDs whose users may sign in",
            ));
        }

        let mut tenants = Vec::with_capacity(self.allowed_tenants.len());
        for tenant in &self.allowed_tenants {
            if !is_guid(tenant) {
                return Err(invalid(
                    "allowed_tenants",
                    format!(
                        "contains `{tenant}`, which is not a tenant GUID; use the directory \
                         (tenant) ID, not a domain name or common/organizations"
                    ),
                ));
            }
            tenants.push(tenant.to_ascii_lowercase());
        }
        Ok(tenants)
    }

    /// Returns the authority without query, fragment or trailing slash, the
    /// form Entra uses for its `issuer`.
    pub(crate) fn authority_base(&self) -> String {
        let mut base = self.authority.clone();
        base.set_query(None);
        base.set_fragment(None);
        base.as_str().trim_end_matches('/').to_string()
    }

    /// Returns `{authority}/.well-known/openid-configuration` with the
    /// authority's query kept.
    pub(crate) fn discovery_url(&self) -> Url {
        let mut url = self.authority.clone();
        let path = format!(
            "{}/.well-known/openid-configuration",
            url.path().trim_end_matches('/')
        );
        url.set_path(&path);
        url
    }

    /// Returns the app-only scope for Microsoft Graph, `{graph_base_url}/.default`.
    pub(crate) fn graph_scope(&self) -> String {
        format!(
            "{}/.default",
            self.graph_base_url.as_str().trim_end_matches('/')
        )
    }
}

/// Returns the first path segment of an Entra URL, which names the tenant.
pub(crate) fn tenant_segment(url: &Url) -> Option<&str> {
    url.path_segments()?
        .next()
        .filter(|segment| !segment.is_empty())
}

/// Checks the 8-4-4-4-12 hexadecimal form that Entra uses for tenant and
/// object ids.
pub(crate) fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

/// Returns whether a URL points at this machine, where plain HTTP is harmless.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

fn require_secure_url(field: &'static str, url: &Url) -> Result<(), SsoError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        scheme => Err(invalid(
            field,
            format!(
                "uses `{scheme}` ({url}); use https, since plain http is accepted only for \
                 localhost and loopback addresses"
            ),
        )),
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> SsoError {
    SsoError::InvalidConfig {
        field,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(authority: &str) -> ConnectionConfig {
        ConnectionConfig::new(
            Url::parse(authority).unwrap(),
            "3c9d6a1e-8f42-4b7a-a0d5-6e1f2b3c4d55",
            ClientSecret::new("not-a-real-secret"),
            vec!["7F0C3E2A-1B4D-4C8E-9A51-2D6B0E9F4A11".to_string()],
            Url::parse("https://lockers.example/auth/callback").unwrap(),
        )
    }

    #[test]
    fn client_secret_debug_is_redacted() {
        let secret = ClientSecret::new("very-secret-value");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let config = config("https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0");
        assert!(!format!("{config:?}").contains("not-a-real-secret"));
    }

    #[test]
    fn allowed_tenants_are_lowercased() {
        let config = config("https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0");
        let tenants = config.validate().unwrap();
        assert_eq!(tenants, vec!["7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11"]);
    }

    #[test]
    fn domain_in_allowed_tenants_is_rejected() {
        let mut config = config("https://login.example/contoso.example/v2.0");
        config.allowed_tenants = vec!["contoso.example".to_string()];
        let error = config.validate().unwrap_err();
        assert!(error.to_string().contains("contoso.example"), "{error}");
    }

    #[test]
    fn plain_http_only_for_loopback() {
        let remote = config("http://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0");
        assert!(remote.validate().is_err());
        let local = config("http://127.0.0.1:8080/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0");
        assert!(local.validate().is_ok());
    }

    #[test]
    fn discovery_url_keeps_appid_query() {
        let config =
            config("https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0/?appid=abc");
        assert_eq!(
            config.discovery_url().as_str(),
            "https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0/.well-known/openid-configuration?appid=abc"
        );
        assert_eq!(
            config.authority_base(),
            "https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/v2.0"
        );
    }

    #[test]
    fn guid_form_is_checked() {
        assert!(is_guid("7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11"));
        assert!(!is_guid("7f0c3e2a1b4d4c8e9a512d6b0e9f4a11"));
        assert!(!is_guid("{7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a1}"));
        assert!(!is_guid("7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a1g"));
    }
}
