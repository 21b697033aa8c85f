//! A short-lived cache of authenticated bearer tokens.
//!
//! Every SCIM and device request authenticates, and the credential lookup
//! was one database round trip per request. A valid token is remembered
//! for [`TTL`]. Once it is older than [`REFRESH_AFTER`], the next request
//! still uses it and starts one lookup in the background, so a token used
//! at least every two seconds does not wait for the database. Without
//! that, every bank's device token expired every few seconds and its next
//! decision waited for a read, which under load queued behind the
//! checkpoint's syncs.
//!
//! A revocation through this store clears the cache at once. A revocation
//! by another process (the CLI, another node) takes effect within [`TTL`]:
//! an entry is never used past it, whether or not a refresh has finished.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Authenticated;

/// How long a positive lookup is trusted.
pub const TTL: Duration = Duration::from_secs(5);

/// Age after which a use of an entry also refreshes it in the background.
/// The two seconds before [`TTL`] leave a refresh time to finish for any
/// token used at least every two seconds.
pub const REFRESH_AFTER: Duration = Duration::from_secs(3);

/// Entries beyond this are dropped wholesale; only valid tokens are cached,
/// so the bound is reached only with very many live tokens.
const MAX_ENTRIES: usize = 10_000;

/// A cached token, as [`CredentialCache::get`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cached {
    /// An entry looked up less than [`REFRESH_AFTER`] ago.
    Fresh(Authenticated),
    /// An older entry that is still within [`TTL`]. `refresh` is true for
    /// exactly one caller, which starts the background lookup.
    Stale { auth: Authenticated, refresh: bool },
}

struct Entry {
    auth: Authenticated,
    fresh_until: Instant,
    usable_until: Instant,
    refreshing: AtomicBool,
}

/// The number of [`CredentialCache::clear`] calls so far. A lookup stores
/// its result only if no clear came after it started, so a lookup that
/// began before a revocation cannot put the revoked token back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: RwLock<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl CredentialCache {
    pub fn get(&self, key: &str) -> Option<Cached> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<Cached> {
        let entries = self.entries.read().expect("credential cache lock");
        let entry = entries.get(key)?;
        if now < entry.fresh_until {
            return Some(Cached::Fresh(entry.auth.clone()));
        }
        if now < entry.usable_until {
            let refresh = !entry.refreshing.swap(true, Ordering::AcqRel);
            return Some(Cached::Stale {
                auth: entry.auth.clone(),
                refresh,
            });
        }
        None
    }

    /// Returns the current generation; pass it to [`Self::store`] with the
    /// result of a lookup started after this call.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Records the result of a lookup: the token and how long it stays
    /// valid, or `None` when the token is unknown or revoked. A result from
    /// before the last [`Self::clear`] is dropped.
    pub fn store(
        &self,
        key: &str,
        found: Option<(Authenticated, Duration)>,
        generation: Generation,
    ) {
        self.store_at(key, found, generation, Instant::now());
    }

    fn store_at(
        &self,
        key: &str,
        found: Option<(Authenticated, Duration)>,
        generation: Generation,
        now: Instant,
    ) {
        let mut entries = self.entries.write().expect("credential cache lock");
        // Checked under the lock, because `clear` bumps the generation
        // while it holds it.
        if self.generation() != generation {
            return;
        }
        let Some((auth, valid_for)) = found else {
            entries.remove(key);
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let entry = Entry {
            auth,
            fresh_until: now + valid_for.min(REFRESH_AFTER),
            usable_until: now + valid_for.min(TTL),
            refreshing: AtomicBool::new(false),
        };
        entries.insert(key.to_string(), entry);
    }

    /// Lets the next use of `key` start another refresh, after one failed.
    pub fn refresh_failed(&self, key: &str) {
        let entries = self.entries.read().expect("credential cache lock");
        if let Some(entry) = entries.get(key) {
            entry.refreshing.store(false, Ordering::Release);
        }
    }

    pub fn clear(&self) {
        let mut entries = self.entries.write().expect("credential cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
impl CredentialCache {
    /// Makes every entry `by` older, as if that much time had passed.
    pub(crate) fn age(&self, by: Duration) {
        let mut entries = self.entries.write().expect("credential cache lock");
        for entry in entries.values_mut() {
            entry.fresh_until = entry.fresh_until.checked_sub(by).expect("age past boot");
            entry.usable_until = entry.usable_until.checked_sub(by).expect("age past boot");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CredentialKind;

    fn auth(id: &str) -> Authenticated {
        Authenticated {
            tenant_id: "t1".into(),
            credential_id: id.into(),
            kind: CredentialKind::DeviceToken,
            scope: Some("bank-1".into()),
        }
    }

    fn cache_with(key: &str, valid_for: Duration, at: Instant) -> CredentialCache {
        let cache = CredentialCache::default();
        cache.store_at(key, Some((auth("c1"), valid_for)), cache.generation(), at);
        cache
    }

    #[test]
    fn entry_ages_fresh_stale_gone() {
        let start = Instant::now();
        let cache = cache_with("k", Duration::from_secs(3600), start);
        let at = |secs: u64| start + Duration::from_secs(secs);

        assert_eq!(cache.get_at("k", at(0)), Some(Cached::Fresh(auth("c1"))));
        assert_eq!(cache.get_at("k", at(2)), Some(Cached::Fresh(auth("c1"))));
        let stale = cache.get_at("k", at(4));
        assert_eq!(
            stale,
            Some(Cached::Stale {
                auth: auth("c1"),
                refresh: true
            })
        );
        assert_eq!(cache.get_at("k", at(5)), None);
        assert_eq!(cache.get_at("other", at(0)), None);
    }

    #[test]
    fn one_caller_refreshes_stale_entry() {
        let start = Instant::now();
        let cache = cache_with("k", TTL, start);
        let later = start + REFRESH_AFTER + Duration::from_millis(1);

        let first = cache.get_at("k", later);
        let second = cache.get_at("k", later);
        assert!(matches!(first, Some(Cached::Stale { refresh: true, .. })));
        assert!(matches!(second, Some(Cached::Stale { refresh: false, .. })));

        cache.refresh_failed("k");
        let after_failure = cache.get_at("k", later);
        assert!(matches!(
            after_failure,
            Some(Cached::Stale { refresh: true, .. })
        ));
    }

    #[test]
    fn refreshed_entry_is_fresh_again() {
        let start = Instant::now();
        let cache = cache_with("k", TTL, start);
        let later = start + Duration::from_secs(4);
        assert!(matches!(
            cache.get_at("k", later),
            Some(Cached::Stale { refresh: true, .. })
        ));

        cache.store_at("k", Some((auth("c1"), TTL)), cache.generation(), later);
        assert_eq!(cache.get_at("k", later), Some(Cached::Fresh(auth("c1"))));
    }

    #[test]
    fn lookup_without_token_removes_entry() {
        let start = Instant::now();
        let cache = cache_with("k", TTL, start);
        cache.store_at("k", None, cache.generation(), start);
        assert_eq!(cache.get_at("k", start), None);
    }

    #[test]
    fn lookup_before_clear_is_dropped() {
        let start = Instant::now();
        let cache = CredentialCache::default();
        let before = cache.generation();
        cache.clear();
        cache.store_at("k", Some((auth("c1"), TTL)), before, start);
        assert_eq!(cache.get_at("k", start), None);
    }

    #[test]
    fn short_lived_token_ends_at_expiry() {
        let start = Instant::now();
        let cache = cache_with("k", Duration::from_secs(1), start);
        let just_before = start + Duration::from_millis(999);
        assert_eq!(
            cache.get_at("k", just_before),
            Some(Cached::Fresh(auth("c1")))
        );
        assert_eq!(cache.get_at("k", start + Duration::from_secs(1)), None);
    }
}
