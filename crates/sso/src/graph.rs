//! Group overage through Microsoft Graph.
//!
//! When a user is in more groups than fit into a token, Entra omits `groups`
//! and sends `_claim_names`/`_claim_sources` (or `hasgroups`). The source URL
//! in the token points at the retired Azure AD Graph and is never called.
//! Membership comes from `POST {graph}/v1.0/users/{oid}/getMemberObjects`
//! with an app-only token from the client credentials grant (RFC 6749 §4.4).
//! That needs the application permissions User.ReadBasic.All and
//! GroupMember.Read.All with admin consent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use openidconnect::{OAuth2TokenResponse, Scope, TokenUrl};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use crate::client_auth::ClientCredential;
use crate::config::tenant_segment;
use crate::http::{HttpError, Transport, host_of, send_for_json};
use crate::oidc_client::{EntraClient, describe_token_error};

/// Bound on `@odata.nextLink` pages. `getMemberObjects` normally returns one page.
const MAX_PAGES: usize = 50;

/// An app-only token is renewed this long before it expires.
const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(5 * 60);

struct AppToken {
    access_token: String,
    renew_at: Instant,
}

pub(crate) struct Graph {
    base: Url,
    scope: String,
    token_endpoint: Url,
    /// Tenant segment of the authority (`organizations`, `common` or a GUID).
    authority_tenant: String,
    multi_tenant: bool,
    /// Signs a client assertion for each token request when the app
    /// authenticates with a certificate.
    credential: ClientCredential,
    client_id: String,
    /// App-only tokens by tenant.
    tokens: Mutex<HashMap<String, AppToken>>,
}

impl Graph {
    pub(crate) fn new(
        base: Url,
        scope: String,
        token_endpoint: Url,
        authority: &Url,
        multi_tenant: bool,
        credential: ClientCredential,
        client_id: String,
    ) -> Graph {
        Graph {
            base,
            scope,
            token_endpoint,
            authority_tenant: tenant_segment(authority).unwrap_or_default().to_string(),
            multi_tenant,
            credential,
            client_id,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the ids of all groups, directory roles and administrative
    /// units that user `oid` of tenant `tid` is a transitive member of.
    /// The error text names the failing host and status.
    pub(crate) async fn member_object_ids(
        &self,
        oidc: &EntraClient,
        transport: &Transport,
        tid: &str,
        oid: &str,
    ) -> Result<Vec<String>, String> {
        let access_token = self.app_token(oidc, transport, tid).await?;

        // `oid` was checked to be a GUID, so it is safe as a path segment.
        let url = format!(
            "{}/v1.0/users/{oid}/getMemberObjects",
            self.base.as_str().trim_end_matches('/')
        );
        let request = transport
            .client
            .post(&url)
            .bearer_auth(&access_token)
            .json(&json!({ "securityEnabledOnly": false }))
            .build()
            .map_err(|_| format!("the Graph request to {url} could not be built"))?;
        let mut page = self.send(transport, request, tid).await?;

        let mut ids = Vec::new();
        for _ in 0..MAX_PAGES {
            let values = page
                .get("value")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{} returned no `value` array", host_of(&self.base)))?;
            for value in values {
                let id = value.as_str().ok_or_else(|| {
                    format!("{} returned a non-string member id", host_of(&self.base))
                })?;
                ids.push(id.to_string());
            }

            let Some(next) = page.get("@odata.nextLink").and_then(Value::as_str) else {
                return Ok(ids);
            };
            let next = Url::parse(next)
                .map_err(|_| "the `@odata.nextLink` of Graph is not a URL".to_string())?;
            // The bearer token must reach only the configured Graph host.
            if next.origin() != self.base.origin() {
                return Err(format!(
                    "the `@odata.nextLink` points at {}, not at the configured Graph host {}",
                    host_of(&next),
                    host_of(&self.base)
                ));
            }
            let request = transport
                .client
                .get(next)
                .bearer_auth(&access_token)
                .build()
                .map_err(|_| "the Graph next-page request could not be built".to_string())?;
            page = self.send(transport, request, tid).await?;
        }
        Err(format!(
            "{} returned more than {MAX_PAGES} pages of member ids",
            host_of(&self.base)
        ))
    }

    async fn send(
        &self,
        transport: &Transport,
        request: reqwest::Request,
        tid: &str,
    ) -> Result<Value, String> {
        match send_for_json(&transport.client, request).await {
            Ok(page) => Ok(page),
            Err(error) => {
                // A rejected token is dropped, so that the next sign-in gets a fresh one.
                if matches!(
                    error,
                    HttpError {
                        status: Some(401),
                        ..
                    }
                ) {
                    self.tokens.lock().await.remove(tid);
                }
                Err(error.to_string())
            }
        }
    }

    /// Returns a cached or new app-only Graph token for tenant `tid`.
    async fn app_token(
        &self,
        oidc: &EntraClient,
        transport: &Transport,
        tid: &str,
    ) -> Result<String, String> {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(tid)
            && Instant::now() < token.renew_at
        {
            return Ok(token.access_token.clone());
        }

        let token_endpoint = self.token_endpoint_for(tid);
        let host = host_of(&token_endpoint);
        let assertion = self
            .credential
            .assertion_fields(&self.client_id, token_endpoint.as_str());
        let client = oidc
            .clone()
            .set_token_uri(TokenUrl::from_url(token_endpoint));
        let mut request = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()));
        for (name, value) in assertion {
            request = request.add_extra_param(name, value);
        }
        let response = request.request_async(transport).await.map_err(|error| {
            format!(
                "no app-only Graph token: {}",
                describe_token_error(&error, &host)
            )
        })?;

        let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3600));
        let access_token = response.access_token().secret().clone();
        tokens.insert(
            tid.to_string(),
            AppToken {
                access_token: access_token.clone(),
                renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_RENEWAL_MARGIN),
            },
        );
        Ok(access_token)
    }

    /// Returns the token endpoint of tenant `tid`. An app-only token reads
    /// only the directory of the tenant that issued it, and `organizations`
    /// or `common` name no tenant, so in multi-tenant mode the authority's
    /// tenant segment is replaced by the user's `tid`.
    // NOTE: multi-tenant overage needs admin consent to the Graph
    // permissions in every allowed tenant; without it this token request fails.
    fn token_endpoint_for(&self, tid: &str) -> Url {
        let mut url = self.token_endpoint.clone();
        if !self.multi_tenant {
            return url;
        }
        let segments: Vec<String> = url
            .path_segments()
            .map(|segments| segments.map(str::to_string).collect())
            .unwrap_or_default();
        if segments.first().map(String::as_str) == Some(self.authority_tenant.as_str()) {
            let mut replaced = segments;
            replaced[0] = tid.to_string();
            url.set_path(&replaced.join("/"));
        }
        url
    }
}
