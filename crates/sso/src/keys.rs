//! Cache of the provider's signing keys across Entra key rollovers, which
//! happen without notice. Keys are cached one by one by `kid` and refreshed
//! about hourly. An unknown `kid` causes a synchronous refresh at most once
//! per five minutes. A failed fetch keeps the cached keys.
//!
//! Fetched keys are merged into the cache instead of replacing it, because
//! Entra's keys endpoint has returned different subsets of its keys during a
//! rollover.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKey;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::error::SsoError;
use crate::http::{get_json, host_of};

/// A key leaves the cache once successful fetches have not returned it for this long.
pub(crate) const KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Minimum time between two refreshes caused by unknown `kid`s, and between
/// two attempts of a failing periodic refresh.
pub(crate) const REFRESH_RATE_LIMIT: Duration = Duration::from_secs(5 * 60);

/// Age of the last successful fetch after which the next verification refreshes.
pub(crate) const PERIODIC_REFRESH: Duration = Duration::from_secs(60 * 60);

/// A published signing key and its Entra `issuer` member, if it has one.
#[derive(Clone, Debug)]
pub(crate) struct SigningKey {
    pub jwk: CoreJsonWebKey,
    /// Entra's v2 keys carry the issuer they sign for, possibly with the
    /// `{tenantid}` template.
    pub issuer: Option<String>,
}

#[derive(Clone, Debug)]
struct CachedKey {
    key: SigningKey,
    last_seen: Instant,
}

/// The cached keys, changed only by successful fetches.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    keys: HashMap<String, CachedKey>,
    last_success: Option<Instant>,
}

impl KeyTable {
    /// Adds or renews the fetched keys and drops keys that no fetch has
    /// returned for [`KEY_RETENTION`]. Only a successful fetch calls this, so
    /// a provider outage never empties the cache.
    pub(crate) fn merge(&mut self, fetched: Vec<(String, SigningKey)>, now: Instant) {
        for (kid, key) in fetched {
            self.keys.insert(
                kid,
                CachedKey {
                    key,
                    last_seen: now,
                },
            );
        }
        self.last_success = Some(now);
        self.keys
            .retain(|_, cached| now.saturating_duration_since(cached.last_seen) < KEY_RETENTION);
    }

    pub(crate) fn get(&self, kid: &str) -> Option<SigningKey> {
        self.keys.get(kid).map(|cached| cached.key.clone())
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.last_success
            .is_none_or(|success| now.saturating_duration_since(success) >= PERIODIC_REFRESH)
    }

    #[cfg(test)]
    fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.keys.keys().cloned().collect();
        kids.sort();
        kids
    }
}

#[derive(Debug, Default)]
struct RefreshTimes {
    last_unknown_kid_refresh: Option<Instant>,
    last_periodic_attempt: Option<Instant>,
}

/// Signing keys of one relying party.
// NOTE: one key set per relying party. In multi-tenant mode that is the
// `organizations` or `common` set, which would miss keys that a tenant stops
// sharing with the common set.
#[derive(Debug)]
pub(crate) struct KeyCache {
    jwks_uri: Url,
    table: RwLock<KeyTable>,
    /// Serialises refreshes, so that a burst of tokens with unknown `kid`s
    /// waits for one fetch instead of starting one each.
    refresh: Mutex<RefreshTimes>,
}

impl KeyCache {
    /// Fetches the keys once. Startup fails when that fetch fails, because no
    /// token could be verified.
    pub(crate) async fn load(
        jwks_uri: Url,
        client: &reqwest::Client,
    ) -> Result<KeyCache, SsoError> {
        let fetched = fetch(&jwks_uri, client).await?;
        let mut table = KeyTable::default();
        table.merge(fetched, Instant::now());
        Ok(KeyCache {
            jwks_uri,
            table: RwLock::new(table),
            refresh: Mutex::new(RefreshTimes::default()),
        })
    }

    /// Returns the key for `kid`. The cache is refreshed first when its last
    /// successful fetch is an hour old, and again when it lacks `kid`. Each
    /// kind of refresh runs at most once per five minutes.
    pub(crate) async fn key(
        &self,
        kid: &str,
        client: &reqwest::Client,
    ) -> Result<SigningKey, SsoError> {
        if self.read().is_stale(Instant::now()) {
            self.refresh_periodically(client).await;
        }
        if let Some(key) = self.read().get(kid) {
            return Ok(key);
        }

        let mut times = self.refresh.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(key) = self.read().get(kid) {
            return Ok(key);
        }
        let now = Instant::now();
        let recently = times
            .last_unknown_kid_refresh
            .is_some_and(|last| now.saturating_duration_since(last) < REFRESH_RATE_LIMIT);
        if !recently {
            times.last_unknown_kid_refresh = Some(now);
            tracing::info!(kid, jwks_host = %host_of(&self.jwks_uri), "refreshing signing keys for an unknown kid");
            self.fetch_and_merge(client).await;
        }
        self.read()
            .get(kid)
            .ok_or_else(|| SsoError::UnknownSigningKey {
                kid: kid.to_string(),
                jwks_host: host_of(&self.jwks_uri),
            })
    }

    async fn refresh_periodically(&self, client: &reqwest::Client) {
        let mut times = self.refresh.lock().await;
        let now = Instant::now();
        if !self.read().is_stale(now) {
            return;
        }
        let attempted_recently = times
            .last_periodic_attempt
            .is_some_and(|last| now.saturating_duration_since(last) < REFRESH_RATE_LIMIT);
        if attempted_recently {
            return;
        }
        times.last_periodic_attempt = Some(now);
        self.fetch_and_merge(client).await;
    }

    /// Fetches the JWKS and merges it. A failure keeps the cached keys and is logged.
    async fn fetch_and_merge(&self, client: &reqwest::Client) {
        match fetch(&self.jwks_uri, client).await {
            Ok(fetched) => {
                let count = fetched.len();
                let mut table = self
                    .table
                    .write()
                    .unwrap_or_else(|poison| poison.into_inner());
                table.merge(fetched, Instant::now());
                tracing::debug!(
                    fetched = count,
                    cached = table.keys.len(),
                    "signing keys refreshed"
                );
            }
            Err(error) => {
                tracing::warn!(%error, "signing key refresh failed; keeping the cached keys");
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeyTable> {
        self.table
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

async fn fetch(
    jwks_uri: &Url,
    client: &reqwest::Client,
) -> Result<Vec<(String, SigningKey)>, SsoError> {
    let document = get_json(client, jwks_uri).await?;
    parse_jwks(&document).map_err(|problem| SsoError::Http {
        host: host_of(jwks_uri),
        status: Some(200),
        problem: format!("the JWKS is unusable: {problem}"),
    })
}

/// Reads the keys of a JWKS (RFC 7517 §5). Keys without `kid` cannot be
/// selected and keys that openidconnect cannot parse are skipped. A missing
/// `alg` member is normal for Entra and accepted, because the algorithm comes
/// from the token header, which must be RS256.
pub(crate) fn parse_jwks(document: &Value) -> Result<Vec<(String, SigningKey)>, String> {
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "the `keys` member is missing or not an array".to_string())?;

    let mut keys = Vec::new();
    for entry in entries {
        let Some(kid) = entry.get("kid").and_then(Value::as_str) else {
            tracing::debug!("skipping a JWKS key without kid");
            continue;
        };
        let jwk: CoreJsonWebKey = match serde_json::from_value(entry.clone()) {
            Ok(jwk) => jwk,
            Err(error) => {
                tracing::debug!(kid, %error, "skipping a JWKS key that cannot be parsed");
                continue;
            }
        };
        let issuer = entry
            .get("issuer")
            .and_then(Value::as_str)
            .map(str::to_string);
        keys.push((kid.to_string(), SigningKey { jwk, issuer }));
    }

    if keys.is_empty() {
        return Err("it contains no usable signing key".to_string());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Modulus of the test key `tests/entra/keys/key-a.pem`.
    const TEST_MODULUS: &str = "nTHneP5uVFQ3aZeE9Wv2LKTW1x1h7ICXL9cWf8HF0Jc7gN3LWckfFpio-UJjG0uV-e29pZdFGgQBjR4RymjW6CB3D3Lwpa4hpj5IhWbVnFJnWiTJ71f4R1rhQ6hpVj9STNgOZsdblrIFXKRs75jVnZRV11TeyhlNIyZ6NYNhQlzR1vwe7WVCUm1KmXKLPuu_TUz992VtaqjCvbX-rSv2KhavrK5M4xjBK6RHvbXY4kLm67xIfJUbwB_XjUZdmcxv4AKV8wIKM5TtDoyHznJSKfAXcg_9EQvPLguqF3TWA_0QLfWvwPpoVblqfUsgQ5VgXSBW0sI-XOe6i-WpHi4nmQ";

    fn key(kid: &str) -> (String, SigningKey) {
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": TEST_MODULUS,
            "e": "AQAB",
            "issuer": "https://login.example/{tenantid}/v2.0"
        }]});
        parse_jwks(&jwks).unwrap().remove(0)
    }

    #[test]
    fn merge_keeps_keys_a_later_fetch_omits() {
        let start = Instant::now();
        let mut table = KeyTable::default();
        table.merge(vec![key("a")], start);
        table.merge(vec![key("b")], start + Duration::from_secs(60));
        assert_eq!(table.kids(), vec!["a", "b"]);
    }

    #[test]
    fn merge_drops_keys_unseen_for_a_day() {
        let start = Instant::now();
        let mut table = KeyTable::default();
        table.merge(vec![key("a"), key("b")], start);
        table.merge(
            vec![key("b")],
            start + KEY_RETENTION - Duration::from_secs(1),
        );
        assert_eq!(table.kids(), vec!["a", "b"]);
        table.merge(vec![key("b")], start + KEY_RETENTION);
        assert_eq!(table.kids(), vec!["b"]);
    }

    #[test]
    fn table_is_stale_after_an_hour() {
        let start = Instant::now();
        let mut table = KeyTable::default();
        assert!(table.is_stale(start));
        table.merge(vec![key("a")], start);
        assert!(!table.is_stale(start + PERIODIC_REFRESH - Duration::from_secs(1)));
        assert!(table.is_stale(start + PERIODIC_REFRESH));
    }

    #[test]
    fn jwks_keeps_issuer_without_alg() {
        let (kid, signing_key) = key("kid-1");
        assert_eq!(kid, "kid-1");
        assert_eq!(
            signing_key.issuer.as_deref(),
            Some("https://login.example/{tenantid}/v2.0")
        );
    }

    #[test]
    fn jwks_without_usable_keys_is_an_error() {
        let error =
            parse_jwks(&json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})).unwrap_err();
        assert!(error.contains("no usable signing key"), "{error}");
        assert!(parse_jwks(&json!({"value": []})).is_err());
    }
}
