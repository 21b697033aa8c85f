//! A short-lived cache of authenticated bearer tokens.
//!
//! Every SCIM request authenticates, and the credential lookup was one
//! database round trip per request. A valid token is remembered for a few
//! seconds. A revocation through this store clears the cache at once; a
//! revocation by another process (the CLI, another node) takes effect
//! within [`TTL`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::Authenticated;

/// How long a positive lookup is trusted.
pub const TTL: Duration = Duration::from_secs(5);

/// Entries beyond this are dropped wholesale; only valid tokens are cached,
/// so the bound is reached only with very many live tokens.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: RwLock<HashMap<String, (Authenticated, Instant)>>,
}

impl CredentialCache {
    pub fn get(&self, key: &str) -> Option<Authenticated> {
        let entries = self.entries.read().expect("credential cache lock");
        let (auth, until) = entries.get(key)?;
        (Instant::now() < *until).then(|| auth.clone())
    }

    pub fn insert(&self, key: String, auth: Authenticated, valid_for: Duration) {
        let mut entries = self.entries.write().expect("credential cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (auth, Instant::now() + valid_for.min(TTL)));
    }

    pub fn clear(&self) {
        self.entries.write().expect("credential cache lock").clear();
    }
}
