//! A tenant's identity connection: which Entra tenant and app registration
//! its users sign in with, how sign-ins link to users, and how app roles
//! and groups map to Lockgate roles. Admins manage it over the admin API;
//! the client credential is write-only.

use axum::Json;
use axum::extract::State;
use lockgate_domain::role::RoleMapping;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use lockgate_sso::SsoError;

use super::credential::{CredentialFields, StoredCredential};
use crate::AppState;
use crate::admin::{AdminAuth, ApiJson, TenantAdmin};
use crate::error::ApiFailure;

/// How users come to exist in Lockgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    /// SCIM provisions every user; a sign-in must match one.
    Provisioning,
    /// SCIM provisions users; others are created at their first sign-in.
    Hybrid,
    /// No SCIM: users and their groups come from the token at each sign-in.
    SsoOnly,
}

/// The claim whose value equals a SCIM user's `externalId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LinkClaim {
    /// Entra's object id, which the default provisioning mapping sends.
    Oid,
    Sub,
    /// Mutable: only for tenants that map the UPN to `externalId`.
    PreferredUsername,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionSettings {
    /// Discovery base, such as `https://login.microsoftonline.com/<tenant id>/v2.0`.
    pub authority: Url,
    pub client_id: String,
    /// Entra tenant ids whose users may sign in.
    pub allowed_tenants: Vec<String>,
    pub mode: Mode,
    #[serde(default = "default_link")]
    pub external_id_claim: LinkClaim,
    #[serde(default)]
    pub role_mapping: RoleMapping,
    #[serde(default)]
    pub multi_tenant: bool,
    #[serde(default = "default_graph")]
    pub graph_base_url: Url,
    /// In SSO-only mode, access lapses after this many days without a sign-in.
    #[serde(default = "default_lapse")]
    pub lapse_days: u32,
}

fn default_link() -> LinkClaim {
    LinkClaim::Oid
}

fn default_graph() -> Url {
    Url::parse(lockgate_sso::DEFAULT_GRAPH_BASE_URL).expect("a valid constant")
}

fn default_lapse() -> u32 {
    30
}

/// A save request. `Debug` leaves out the credential fields.
#[derive(Deserialize)]
pub(crate) struct SaveConnection {
    #[serde(flatten)]
    settings: ConnectionSettings,
    /// One credential is required the first time and kept when absent
    /// later: a client secret, or a PEM certificate with its PEM key.
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_certificate: Option<String>,
    #[serde(default)]
    client_private_key: Option<String>,
}

impl std::fmt::Debug for SaveConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaveConnection")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    fn check(&self) -> Result<(), String> {
        if self.client_id.trim().is_empty() {
            return Err(
                "client_id is empty; copy the Application (client) ID of the app registration"
                    .into(),
            );
        }
        if self.allowed_tenants.is_empty() {
            return Err(
                "allowed_tenants is empty; list the Entra tenant id (a GUID) whose users sign in"
                    .into(),
            );
        }
        if self.mode == Mode::SsoOnly && self.lapse_days == 0 {
            return Err("lapse_days must be at least 1 in sso_only mode".into());
        }
        Ok(())
    }

    /// Explains what the admin must know about the chosen mode.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.mode == Mode::SsoOnly {
            out.push(format!(
                "sso_only: without SCIM, Lockgate does not learn that someone left. Their access \
                 lapses {} days after their last sign-in; provision with SCIM to end it at once.",
                self.lapse_days
            ));
        }
        out
    }
}

/// `GET /identity-connection`: the settings without the secret.
pub(crate) async fn get(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
) -> Result<Json<Value>, ApiFailure> {
    let (settings, stored) = state
        .store
        .identity_connection(&auth.tenant.id)
        .await?
        .ok_or_else(|| ApiFailure::not_found("identity connection of this tenant"))?;
    let parsed: ConnectionSettings = serde_json::from_value(settings.clone())
        .map_err(|e| ApiFailure::bad_request(format!("stored identity connection: {e}")))?;
    let slug = auth.tenant.slug.as_str();
    match StoredCredential::from_secret(&stored) {
        Ok(credential) => Ok(Json(describe(&state, slug, &parsed, &credential))),
        // The settings stay readable so that the admin can save them again
        // with a new credential.
        Err(problem) => {
            tracing::warn!(tenant = %auth.tenant.id, %problem, "identity connection credential unreadable");
            let mut warnings = parsed.warnings();
            warnings.push(problem);
            Ok(Json(json!({
                "settings": parsed,
                "client_credential": {"kind": "unreadable"},
                "redirect_uri": redirect_uri(&state, slug),
                "warnings": warnings,
            })))
        }
    }
}

/// `PUT /identity-connection`: saves the settings and checks them by
/// running discovery against the provider.
pub(crate) async fn put(
    State(state): State<AppState>,
    auth: AdminAuth<TenantAdmin>,
    ApiJson(request): ApiJson<SaveConnection>,
) -> Result<Json<Value>, ApiFailure> {
    request.settings.check().map_err(ApiFailure::bad_request)?;
    let existing = match state.store.identity_connection(&auth.tenant.id).await? {
        // An unreadable stored credential is replaced by the one sent now.
        Some((_, stored)) => StoredCredential::from_secret(&stored).ok(),
        None => None,
    };
    let fields = CredentialFields {
        client_secret: request.client_secret,
        client_certificate: request.client_certificate,
        client_private_key: request.client_private_key,
    };
    let credential =
        StoredCredential::from_request(fields, existing).map_err(ApiFailure::bad_request)?;
    let slug = auth.tenant.slug.as_str();
    // Discovery runs before saving, so a wrong authority, tenant or
    // certificate is reported now and not at the first user's sign-in.
    super::registry::discover(&state, slug, &request.settings, &credential)
        .await
        .map_err(|e| match e {
            SsoError::InvalidConfig { .. } => ApiFailure::bad_request(e.to_string()),
            _ => ApiFailure::bad_request(format!("the identity provider check failed: {e}")),
        })?;
    let value = serde_json::to_value(&request.settings).expect("settings serialize");
    state
        .store
        .put_identity_connection(&auth.tenant.id, &value, &credential.to_secret())
        .await?;
    state.sso.forget(&auth.tenant.id);
    Ok(Json(describe(&state, slug, &request.settings, &credential)))
}

/// Builds the response of both routes: settings, the credential's public part,
/// the redirect URI to register, and warnings.
fn describe(
    state: &AppState,
    slug: &str,
    settings: &ConnectionSettings,
    credential: &StoredCredential,
) -> Value {
    let (public, credential_warning) = credential.describe();
    let mut warnings = settings.warnings();
    warnings.extend(credential_warning);
    json!({
        "settings": settings,
        "client_credential": public,
        "redirect_uri": redirect_uri(state, slug),
        "warnings": warnings,
    })
}

/// The callback URL to register in the app registration.
pub(crate) fn redirect_uri(state: &AppState, slug: &str) -> String {
    format!("{}/auth/{slug}/callback", public_base(state))
}

pub(crate) fn public_base(state: &AppState) -> String {
    state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_string())
        .trim_end_matches('/')
        .to_string()
}
