//! Shared server state and configuration.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use lockgate_store::{Store, StoreError, Tenant};

use crate::access::Access;
use crate::provisioning_log::Sink;

/// Server settings that come from configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The externally visible base URL, such as `https://lockers.example`.
    /// When unset, URLs are built from the request's `Host` header.
    pub public_url: Option<String>,
    /// Lifetime of access tokens from the OAuth token endpoint.
    pub access_token_lifetime: Duration,
    /// How long provisioning log entries are kept.
    pub provisioning_log_retention: Duration,
    /// Seconds added to the wall clock for access decisions and lifecycle
    /// deadlines. Always 0 in production; tests move it forward to see a
    /// grace period or a booking run out.
    pub clock_offset: Arc<AtomicI64>,
    /// A browser session ends after this long without a request.
    pub session_idle: time::Duration,
    /// A browser session ends this long after sign-in, whatever its use.
    pub session_lifetime: time::Duration,
    /// Private-use URI schemes the mobile app may redirect to (RFC 8252
    /// §7.1), such as `com.example.lockers`; loopback redirects are always
    /// allowed.
    pub app_redirect_schemes: Vec<String>,
    /// How often SSO-only tenants are checked for users whose access lapsed.
    pub lapse_check_interval: Duration,
    /// How often the server checks that it still has its claim on the
    /// database (see `Store::claim_server`).
    pub claim_check_interval: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            // Entra's gallery rules ask for access tokens that live 1 to 6 hours.
            access_token_lifetime: Duration::from_secs(3600),
            provisioning_log_retention: Duration::from_secs(30 * 24 * 3600),
            clock_offset: Arc::default(),
            session_idle: time::Duration::minutes(30),
            session_lifetime: time::Duration::hours(12),
            app_redirect_schemes: Vec::new(),
            lapse_check_interval: Duration::from_secs(60),
            claim_check_interval: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Store,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) log: Sink,
    pub(crate) access: Access,
    pub(crate) sso: crate::sso::Registry,
    /// Failed credentials per bank, against guessing.
    pub(crate) guesses: Arc<crate::limit::Limiter>,
    tenants: Arc<RwLock<HashMap<String, Tenant>>>,
}

impl AppState {
    pub(crate) fn new(store: Store, config: ServerConfig, log: Sink) -> Self {
        Self {
            access: Access::new(store.clone(), config.clock_offset.clone()),
            sso: crate::sso::Registry::default(),
            guesses: Arc::new(crate::limit::Limiter::new(
                crate::device::GUESSES_PER_MINUTE,
                Duration::from_secs(60),
            )),
            store,
            config: Arc::new(config),
            log,
            tenants: Arc::default(),
        }
    }

    /// Looks a tenant up by slug. Tenants are never deleted or renamed, so a
    /// found tenant is cached for the life of the process.
    pub(crate) async fn tenant(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        if let Some(tenant) = self.tenants.read().expect("tenant cache lock").get(slug) {
            return Ok(Some(tenant.clone()));
        }
        let tenant = self.store.tenant_by_slug(slug).await?;
        if let Some(tenant) = &tenant {
            self.tenants
                .write()
                .expect("tenant cache lock")
                .insert(slug.to_string(), tenant.clone());
        }
        Ok(tenant)
    }
}

/// Readiness: the database answers.
pub(crate) async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
