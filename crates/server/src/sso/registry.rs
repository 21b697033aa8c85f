//! One relying party per tenant, discovered on first use and kept until
//! the tenant's identity connection changes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lockgate_sso::{ConnectionConfig, RelyingParty, SsoError};
use url::Url;

use super::connection::{ConnectionSettings, redirect_uri};
use super::credential::StoredCredential;
use crate::AppState;

#[derive(Clone, Default)]
pub(crate) struct Registry {
    parties: Arc<RwLock<HashMap<String, (RelyingParty, ConnectionSettings)>>>,
}

impl Registry {
    pub(crate) fn forget(&self, tenant_id: &str) {
        self.parties
            .write()
            .expect("registry lock")
            .remove(tenant_id);
    }
}

/// Runs discovery for `settings` and returns the relying party.
pub(crate) async fn discover(
    state: &AppState,
    slug: &str,
    settings: &ConnectionSettings,
    credential: &StoredCredential,
) -> Result<RelyingParty, SsoError> {
    let redirect = Url::parse(&redirect_uri(state, slug)).map_err(|e| SsoError::InvalidConfig {
        field: "redirect_uri",
        problem: e.to_string(),
    })?;
    let mut config = ConnectionConfig::new(
        settings.authority.clone(),
        settings.client_id.clone(),
        credential.client_credential()?,
        settings.allowed_tenants.clone(),
        redirect,
    );
    config.multi_tenant = settings.multi_tenant;
    config.graph_base_url = settings.graph_base_url.clone();
    RelyingParty::discover(config, lockgate_sso::http_client()?).await
}

/// Returns the tenant's relying party and settings, or `None` when the
/// tenant has no identity connection.
pub(crate) async fn relying_party(
    state: &AppState,
    tenant_id: &str,
    slug: &str,
) -> Result<Option<(RelyingParty, ConnectionSettings)>, String> {
    if let Some(found) = state
        .sso
        .parties
        .read()
        .expect("registry lock")
        .get(tenant_id)
    {
        return Ok(Some(found.clone()));
    }
    let stored = state
        .store
        .identity_connection(tenant_id)
        .await
        .map_err(|e| e.to_string())?;
    let Some((value, stored)) = stored else {
        return Ok(None);
    };
    let credential = StoredCredential::from_secret(&stored)?;
    let settings: ConnectionSettings =
        serde_json::from_value(value).map_err(|e| format!("stored identity connection: {e}"))?;
    let party = discover(state, slug, &settings, &credential)
        .await
        .map_err(|e| e.to_string())?;
    state
        .sso
        .parties
        .write()
        .expect("registry lock")
        .insert(tenant_id.to_string(), (party.clone(), settings.clone()));
    Ok(Some((party, settings)))
}
