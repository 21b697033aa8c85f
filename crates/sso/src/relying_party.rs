//! The relying party: discovery, sign-in, verification and logout.

use std::sync::Arc;

use openidconnect::{AuthorizationCode, PkceCodeVerifier, TokenResponse};
use url::Url;

use crate::authorize::{AuthorizeOptions, PendingLogin, authorization_url};
use crate::config::ConnectionConfig;
use crate::discovery::{self, ProviderDocument};
use crate::error::SsoError;
use crate::graph::Graph;
use crate::http::{Transport, host_of};
use crate::id_token::{GroupsClaim, Verifier};
use crate::keys::KeyCache;
use crate::oidc_client::{self, EntraClient, code_exchange_error};
use crate::sign_in::SignIn;

/// An OpenID Connect relying party for one Entra app registration. Cloning
/// is cheap and shares the key and token caches.
#[derive(Clone)]
pub struct RelyingParty {
    inner: Arc<Inner>,
}

struct Inner {
    config: ConnectionConfig,
    /// Lower-case tenant GUIDs.
    allowed_tenants: Vec<String>,
    provider: ProviderDocument,
    oidc: EntraClient,
    transport: Transport,
    keys: KeyCache,
    graph: Graph,
}

impl RelyingParty {
    /// Fetches and checks the discovery document and the signing keys.
    ///
    /// `http` should come from [`http_client`](crate::http_client), whose
    /// redirect policy never follows a redirect to another host. With another
    /// client such a redirect is still reported as an error, but only after
    /// the request was sent.
    pub async fn discover(
        config: ConnectionConfig,
        http: reqwest::Client,
    ) -> Result<RelyingParty, SsoError> {
        let allowed_tenants = config.validate()?;
        let provider = discovery::discover(&config, &allowed_tenants, &http).await?;
        let keys = KeyCache::load(provider.jwks_uri.clone(), &http).await?;
        let oidc = oidc_client::build(&config, &provider);
        let graph = Graph::new(
            config.graph_base_url.clone(),
            config.graph_scope(),
            provider.token_endpoint.clone(),
            &config.authority,
            config.multi_tenant,
            config.credential.clone(),
            config.client_id.clone(),
        );
        tracing::info!(
            issuer = %provider.issuer,
            multi_tenant = config.multi_tenant,
            "OpenID Connect provider discovered"
        );

        Ok(RelyingParty {
            inner: Arc::new(Inner {
                config,
                allowed_tenants,
                provider,
                oidc,
                transport: Transport { client: http },
                keys,
                graph,
            }),
        })
    }

    /// Starts a sign-in: the URL to redirect the browser to, plus what the server must keep for the callback.
    pub fn authorize(&self, options: AuthorizeOptions) -> (Url, PendingLogin) {
        authorization_url(&self.inner.oidc, options)
    }

    /// Finishes a sign-in from the callback's `code`: exchanges it (PKCE verifier sent), verifies the ID token,
    /// resolves group overage through Graph.
    ///
    /// The caller checks the callback's `state` first, with
    /// [`PendingLogin::check_state`], and discards `pending` afterwards.
    pub async fn complete(&self, code: &str, pending: &PendingLogin) -> Result<SignIn, SsoError> {
        let host = host_of(&self.inner.provider.token_endpoint);
        let mut request = self
            .inner
            .oidc
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()));
        for (name, value) in self.inner.config.credential.assertion_fields(
            &self.inner.config.client_id,
            self.inner.provider.token_endpoint.as_str(),
        ) {
            request = request.add_extra_param(name, value);
        }
        let response = request
            .request_async(&self.inner.transport)
            .await
            .map_err(|error| code_exchange_error(error, &host))?;
        let id_token = response
            .id_token()
            .ok_or(SsoError::MissingIdToken)?
            .to_string();

        let (mut sign_in, groups) = self.verifier().verify(&id_token, &pending.nonce).await?;

        // Checked before any Graph call: a sign-in without the demanded
        // authentication context is rejected whatever its groups are.
        if let Some(required) = &pending.required_auth_context
            && !sign_in.has_auth_context(required)
        {
            return Err(SsoError::AuthContextMissing {
                required: required.clone(),
                found: sign_in.auth_contexts,
            });
        }

        self.resolve_groups(&mut sign_in, groups).await?;
        Ok(sign_in)
    }

    /// Verifies a raw ID token (used by `complete`, public for tests and for the mobile flow).
    /// Group overage is resolved through Graph here too.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: &str,
    ) -> Result<SignIn, SsoError> {
        let (mut sign_in, groups) = self.verifier().verify(id_token, expected_nonce).await?;
        self.resolve_groups(&mut sign_in, groups).await?;
        Ok(sign_in)
    }

    /// RP-initiated logout URL at the provider's end_session_endpoint (OIDC RP-Initiated Logout 1.0), if it has one.
    ///
    /// Entra redirects to `post_logout_redirect` only if it is a registered
    /// redirect URI of the app. `logout_hint` is the `login_hint` claim of
    /// the sign-in, which lets Entra skip the account picker.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        logout_hint: Option<&str>,
        post_logout_redirect: Option<&Url>,
    ) -> Option<Url> {
        let mut url = self.inner.provider.end_session_endpoint.clone()?;

        let mut parameters: Vec<(&str, &str)> = Vec::new();
        if let Some(hint) = id_token_hint {
            parameters.push(("id_token_hint", hint));
        }
        if let Some(hint) = logout_hint {
            parameters.push(("logout_hint", hint));
        }
        if let Some(redirect) = post_logout_redirect {
            parameters.push(("post_logout_redirect_uri", redirect.as_str()));
            // RP-Initiated Logout 1.0 §2 lets the OP identify the client by
            // `client_id` when no `id_token_hint` names it.
            parameters.push(("client_id", &self.inner.config.client_id));
        }
        if !parameters.is_empty() {
            url.query_pairs_mut().extend_pairs(parameters);
        }
        Some(url)
    }

    fn verifier(&self) -> Verifier<'_> {
        Verifier {
            client_id: &self.inner.config.client_id,
            document_issuer: &self.inner.provider.issuer,
            allowed_tenants: &self.inner.allowed_tenants,
            clock_skew_seconds: self.inner.config.clock_skew.as_secs(),
            keys: &self.inner.keys,
            http: &self.inner.transport.client,
        }
    }

    /// Replaces unknown membership (group overage) by Graph's response. A Graph
    /// failure fails the sign-in, because treating it as "no groups" would
    /// silently change what the user may open.
    async fn resolve_groups(
        &self,
        sign_in: &mut SignIn,
        groups: GroupsClaim,
    ) -> Result<(), SsoError> {
        match groups {
            GroupsClaim::Listed => Ok(()),
            GroupsClaim::NotEmitted => {
                tracing::debug!(
                    tid = %sign_in.tid,
                    oid = %sign_in.oid,
                    "the ID token has no groups claim; the app registration emits none"
                );
                Ok(())
            }
            GroupsClaim::Overage => {
                tracing::info!(
                    tid = %sign_in.tid,
                    oid = %sign_in.oid,
                    "group overage; reading membership from Microsoft Graph"
                );
                let result = self
                    .inner
                    .graph
                    .member_object_ids(
                        &self.inner.oidc,
                        &self.inner.transport,
                        &sign_in.tid,
                        &sign_in.oid,
                    )
                    .await;
                match result {
                    Ok(ids) => {
                        sign_in.groups = ids;
                        sign_in.groups_from_graph = true;
                        Ok(())
                    }
                    Err(problem) => {
                        tracing::warn!(
                            tid = %sign_in.tid,
                            oid = %sign_in.oid,
                            %problem,
                            "group membership could not be read from Microsoft Graph"
                        );
                        Err(SsoError::GroupsUnavailable {
                            tid: sign_in.tid.clone(),
                            oid: sign_in.oid.clone(),
                            problem,
                        })
                    }
                }
            }
        }
    }
}
