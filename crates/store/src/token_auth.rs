//! Bearer token authentication through the credential cache.
//!
//! Tokens are looked up by hash, so the clear token is never compared byte
//! by byte. A known token is served from the cache; see `credential_cache`
//! for how long, and for the background refresh that keeps busy tokens off
//! the database.

use std::future::Future;
use std::time::Duration;

use lockgate_domain::timestamp;
use sqlx::Row;
use time::OffsetDateTime;

use crate::credential_cache::{Cached, TTL};
use crate::secret::hash_secret;
use crate::{Authenticated, CredentialKind, Store, StoreError};

/// A valid token and how long the cache may keep it.
type Found = Option<(Authenticated, Duration)>;

impl Store {
    /// Finds the tenant's valid SCIM token or access token matching `token`.
    pub async fn authenticate_bearer(
        &self,
        tenant_id: &str,
        token: &str,
    ) -> Result<Option<Authenticated>, StoreError> {
        let hash = hash_secret(token);
        let key = format!("{tenant_id}:{hash}");
        let tenant_id = tenant_id.to_string();
        self.authenticate_cached(key, move |store| async move {
            store.lookup_bearer(&tenant_id, &hash).await
        })
        .await
    }

    /// Finds the valid admin or device token matching `token`, in any
    /// tenant: device requests carry no tenant in their path, and token
    /// hashes are unique across tenants.
    pub async fn authenticate_token(
        &self,
        kind: CredentialKind,
        token: &str,
    ) -> Result<Option<Authenticated>, StoreError> {
        let hash = hash_secret(token);
        let key = format!("{}:{hash}", kind.as_str());
        self.authenticate_cached(key, move |store| async move {
            store.lookup_token(kind, &hash).await
        })
        .await
    }

    /// Returns the cached credential under `key`, or the result of `lookup`
    /// when none is cached. A stale entry is returned as it is, and its
    /// first use starts `lookup` in the background to renew or drop it.
    async fn authenticate_cached<F, Fut>(
        &self,
        key: String,
        lookup: F,
    ) -> Result<Option<Authenticated>, StoreError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<Found, StoreError>> + Send + 'static,
    {
        match self.credential_cache.get(&key) {
            Some(Cached::Fresh(auth)) => return Ok(Some(auth)),
            Some(Cached::Stale { auth, refresh }) => {
                if refresh {
                    let credential_id = auth.credential_id.clone();
                    self.refresh_in_background(key, credential_id, lookup(self.clone()));
                }
                return Ok(Some(auth));
            }
            None => {}
        }
        let generation = self.credential_cache.generation();
        let found = lookup(self.clone()).await?;
        let auth = found.as_ref().map(|(auth, _)| auth.clone());
        self.credential_cache.store(&key, found, generation);
        Ok(auth)
    }

    fn refresh_in_background(
        &self,
        key: String,
        credential_id: String,
        lookup: impl Future<Output = Result<Found, StoreError>> + Send + 'static,
    ) {
        let generation = self.credential_cache.generation();
        let cache = self.credential_cache.clone();
        tokio::spawn(async move {
            match lookup.await {
                Ok(found) => cache.store(&key, found, generation),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        %credential_id,
                        "refreshing a cached credential failed; its next use tries again"
                    );
                    cache.refresh_failed(&key);
                }
            }
        });
    }

    async fn lookup_bearer(&self, tenant_id: &str, hash: &str) -> Result<Found, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.kind, c.expires_at FROM credentials c \
             LEFT JOIN credentials p ON p.id = c.parent_id AND p.tenant_id = c.tenant_id \
             WHERE c.secret_hash = $1 AND c.tenant_id = $2 AND c.kind IN ('scim_token', 'access_token') \
             AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $3) \
             AND (c.parent_id IS NULL OR (p.id IS NOT NULL AND p.revoked_at IS NULL))",
        )
        .bind(hash)
        .bind(tenant_id)
        .bind(timestamp::now())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        let auth = Authenticated {
            tenant_id: tenant_id.to_string(),
            credential_id: row.try_get("id")?,
            kind: CredentialKind::parse(&kind)?,
            scope: None,
        };
        Ok(Some((auth, cache_life(row.try_get("expires_at")?))))
    }

    async fn lookup_token(&self, kind: CredentialKind, hash: &str) -> Result<Found, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, scope, expires_at FROM credentials \
             WHERE secret_hash = $1 AND kind = $2 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(hash)
        .bind(kind.as_str())
        .bind(timestamp::now())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let auth = Authenticated {
            tenant_id: row.try_get("tenant_id")?,
            credential_id: row.try_get("id")?,
            kind,
            scope: row.try_get("scope")?,
        };
        Ok(Some((auth, cache_life(row.try_get("expires_at")?))))
    }
}

/// Returns how long a token that expires at `expires_at` stays valid, or
/// [`TTL`] for one that does not expire. The cache keeps no entry longer
/// than [`TTL`].
fn cache_life(expires_at: Option<String>) -> Duration {
    expires_at
        .and_then(|at| {
            OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|at| Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO))
        .unwrap_or(TTL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;
    use lockgate_domain::Slug;

    /// Caches a device token in a new store, then revokes it through a
    /// second store on the same file, which plays another process such as
    /// the CLI. Returns the first store and the token.
    async fn revoked_elsewhere(dir: &std::path::Path) -> (Store, String) {
        let options = StoreOptions::sqlite_in_dir(dir);
        let store = Store::connect(&options).await.unwrap();
        let tenant = store
            .create_tenant(&Slug::parse("depot").unwrap())
            .await
            .unwrap();
        let (info, secret) = store.create_device_token(&tenant.id, "b1").await.unwrap();
        let token = secret.expose().to_string();
        let first = store
            .authenticate_token(CredentialKind::DeviceToken, &token)
            .await
            .unwrap();
        assert_eq!(first.map(|auth| auth.scope), Some(Some("b1".to_string())));

        let other = Store::connect(&options).await.unwrap();
        other.revoke_credential(&tenant.id, &info.id).await.unwrap();
        (store, token)
    }

    async fn device(store: &Store, token: &str) -> Option<Authenticated> {
        store
            .authenticate_token(CredentialKind::DeviceToken, token)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn stale_token_refreshes_in_background() {
        let dir = tempfile::tempdir().unwrap();
        let (store, token) = revoked_elsewhere(dir.path()).await;
        assert!(device(&store, &token).await.is_some(), "fresh entry");

        // Stale but within the TTL: served once more, and the refresh it
        // starts finds the revocation.
        store.credential_cache.age(Duration::from_secs(4));
        let aged = std::time::Instant::now();
        assert!(device(&store, &token).await.is_some(), "stale entry");

        // Without the refresh the entry would be served until a second
        // after the ageing, so only a miss before that proves the refresh.
        let mut revoked = false;
        while aged.elapsed() < Duration::from_millis(900) {
            if device(&store, &token).await.is_none() {
                revoked = aged.elapsed() < Duration::from_secs(1);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(revoked, "the refresh did not drop the revoked token");
    }

    #[tokio::test]
    async fn expired_entry_is_looked_up_again() {
        let dir = tempfile::tempdir().unwrap();
        let (store, token) = revoked_elsewhere(dir.path()).await;
        store.credential_cache.age(TTL);
        assert!(device(&store, &token).await.is_none());
    }

    #[test]
    fn cache_life_ends_at_expiry() {
        assert_eq!(cache_life(None), TTL);
        let soon = OffsetDateTime::now_utc() + time::Duration::seconds(2);
        let soon = soon
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let life = cache_life(Some(soon));
        assert!(life <= Duration::from_secs(2), "{life:?}");
        assert!(life > Duration::from_secs(1), "{life:?}");
        assert_eq!(
            cache_life(Some("2000-01-01T00:00:00Z".into())),
            Duration::ZERO
        );
    }
}
