//! The locker access runtime: the in-memory index that open decisions are
//! made from, and the lifecycle engine that turns identity and policy
//! changes into assignments, clear-outs and notifications.
//!
//! Decisions read only the index. Writers keep it current: the engine after
//! each committed pass, the admin API after each change, and SCIM handlers
//! at once when a user is disabled or deleted, so the first decision after
//! the SCIM response is already a deny.

mod attributes;
pub(crate) mod audit_sink;
mod end;
mod engine;
pub(crate) mod index;
pub(crate) mod open;
pub(crate) mod pin;
pub(crate) mod preview;
mod time_text;
mod translate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use lockgate_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify};

use self::audit_sink::AuditSink;
use self::engine::EngineState;
use self::index::{AppToken, PinEntry, TenantIndex};
pub(crate) use self::time_text::{parse_time, stored_time};

/// How often the engine runs without a wake-up, to end grace periods and
/// bookings on time and to pick up changes other nodes made.
const ENGINE_INTERVAL: Duration = Duration::from_secs(1);

/// Users read per query when the index is built: few enough that their
/// SCIM documents never take much memory at once, which for 100,000 users
/// read in one query was hundreds of megabytes the allocator kept.
const SUBJECT_PAGE: i64 = 2_000;

/// Badges read per query when the index is built. Reading all 100,000 of a
/// large tenant at once held about 36 MB of rows at the peak of the load.
const BADGE_PAGE: i64 = 5_000;

/// Reads every user of the tenant page by page and hands each page to `apply`.
pub(crate) async fn subject_pages(
    store: &lockgate_store::TenantStore,
    mut apply: impl FnMut(&[lockgate_store::SubjectRow]),
) -> Result<(), StoreError> {
    let mut after = String::new();
    loop {
        let page = store.subjects_after(&after, SUBJECT_PAGE).await?;
        apply(&page);
        match page.last() {
            Some(last) if page.len() as i64 == SUBJECT_PAGE => after = last.id.clone(),
            _ => return Ok(()),
        }
    }
}

/// Updates users from their rows even though their versions did not change,
/// because what the index keeps of them did.
///
/// Each user keeps the entitlements they had. The engine re-plans every
/// user afterwards and needs them to see what a change took away: a lost
/// policy's grace period and leaver action come from the old entitlement.
pub(crate) fn reread(index: &mut TenantIndex, rows: &[lockgate_store::SubjectRow]) {
    for row in rows {
        if let Some(entry) = index.users.get_mut(&row.id) {
            // A disable applied while the page was read left a newer
            // version than the row's, and the stale row must not undo it.
            if entry.version > row.version {
                continue;
            }
            entry.version = row.version - 1;
        }
        if let Some(kept) = index.update_user(row)
            && let Some(entry) = index.users.get_mut(&row.id)
        {
            entry.entitlements = kept;
        }
    }
}

/// Shared handle to the access runtime. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Access {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// Seconds added to the wall clock; see [`ServerConfig::clock_offset`].
    clock_offset: Arc<AtomicI64>,
    tenants: RwLock<HashMap<String, Arc<TenantAccess>>>,
    loading: Mutex<()>,
    wake: Notify,
    audit: AuditSink,
}

/// One tenant's index and engine state.
pub(crate) struct TenantAccess {
    pub tenant_id: String,
    index: RwLock<TenantIndex>,
    engine: Mutex<EngineState>,
    /// The locker fingerprint the index was built from, so changes made by
    /// a CLI import or another node are noticed.
    lockers_seen: std::sync::Mutex<String>,
    /// Held by a reload from its first read until the index is replaced,
    /// and by each committed write while it updates the index's lockers or
    /// assignments. A reload that read before a commit then cannot replace
    /// the index after that commit's update.
    locker_sync: Mutex<()>,
    /// One PIN check at a time per user, so each counts its failure.
    pub pin_turns: pin::Turns,
}

impl TenantAccess {
    pub fn read(&self) -> RwLockReadGuard<'_, TenantIndex> {
        self.index.read().expect("access index lock")
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, TenantIndex> {
        self.index.write().expect("access index lock")
    }

    /// Applies a committed change of lockers or assignments to the index,
    /// after any reload in progress has finished.
    pub async fn after_commit<R>(&self, change: impl FnOnce(&mut TenantIndex) -> R) -> R {
        let _sync = self.locker_sync.lock().await;
        change(&mut self.write())
    }
}

impl Access {
    pub(crate) fn new(store: Store, clock_offset: Arc<AtomicI64>) -> Access {
        Access {
            inner: Arc::new(Inner {
                clock_offset,
                audit: AuditSink::start(store.clone()),
                store,
                tenants: RwLock::default(),
                loading: Mutex::new(()),
                wake: Notify::new(),
            }),
        }
    }

    pub(crate) fn audit(&self) -> &AuditSink {
        &self.inner.audit
    }

    /// Returns the tenant's runtime, loading its index on first use.
    pub(crate) async fn tenant(&self, tenant_id: &str) -> Result<Arc<TenantAccess>, StoreError> {
        if let Some(found) = self.loaded(tenant_id) {
            return Ok(found);
        }
        let _guard = self.inner.loading.lock().await;
        if let Some(found) = self.loaded(tenant_id) {
            return Ok(found);
        }
        let tenant = Arc::new(self.load(tenant_id).await?);
        self.inner
            .tenants
            .write()
            .expect("tenant map lock")
            .insert(tenant_id.to_string(), tenant.clone());
        let store = self.inner.store.tenant(tenant_id);
        engine::catch_up(&store, &tenant, self.now()).await?;
        // Users waiting for a locker when the server last stopped are
        // planned again, in case lockers were added in between.
        self.replan_all(&tenant, &mut *tenant.engine.lock().await);
        Ok(tenant)
    }

    fn loaded(&self, tenant_id: &str) -> Option<Arc<TenantAccess>> {
        self.inner
            .tenants
            .read()
            .expect("tenant map lock")
            .get(tenant_id)
            .cloned()
    }

    async fn load(&self, tenant_id: &str) -> Result<TenantAccess, StoreError> {
        let store = self.inner.store.tenant(tenant_id);
        let lockers_seen = store.locker_fingerprint().await?;
        let settings = self.inner.store.tenant_settings(tenant_id).await?;
        let cursor = store.access_cursor().await?;
        let mut index = TenantIndex {
            badge_attribute: settings
                .get("badge_attribute")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            ..TenantIndex::default()
        };
        index.set_policies(&store.latest_policies().await?);
        let lockers = store.locker_snapshot().await?;
        index.set_lockers(lockers);
        index.set_assignments(&store.open_assignments().await?);
        index.set_groups(store.all_groups().await?, &store.all_memberships().await?);
        subject_pages(&store, |page| {
            for row in page {
                index.update_user(row);
            }
        })
        .await?;
        let mut after = String::new();
        loop {
            let page = store.badges_after(&after, BADGE_PAGE).await?;
            let full = page.len() as i64 == BADGE_PAGE;
            for badge in page {
                after.clone_from(&badge.badge_id);
                if badge.source == "scim"
                    && let Some(entry) = index.users.get_mut(&badge.user_id)
                {
                    entry.stored_scim_badge = Some(badge.badge_id.clone());
                }
                index.badges.insert(badge.badge_id, badge.user_id);
            }
            if !full {
                break;
            }
        }
        for pin in store.pins().await? {
            let entry = PinEntry {
                hash: pin.hash,
                failures: pin.failures,
                locked_until: pin.locked_until.as_deref().and_then(parse_time),
            };
            index.pins.insert(pin.user_id, entry);
        }
        index.user_tokens = store
            .user_token_hashes()
            .await?
            .into_iter()
            .map(|(hash, user, expires_at)| {
                let expires_at = expires_at.as_deref().and_then(parse_time);
                let auth_contexts = Vec::new();
                (
                    hash,
                    AppToken {
                        user,
                        expires_at,
                        auth_contexts,
                    },
                )
            })
            .collect();
        Ok(TenantAccess {
            tenant_id: tenant_id.to_string(),
            index: RwLock::new(index),
            engine: Mutex::new(EngineState {
                cursor,
                ..EngineState::default()
            }),
            lockers_seen: std::sync::Mutex::new(lockers_seen),
            locker_sync: Mutex::new(()),
            pin_turns: pin::Turns::default(),
        })
    }

    /// Loads every tenant and starts the engine. Returns the engine task.
    pub(crate) async fn start(&self) -> Result<tokio::task::JoinHandle<()>, StoreError> {
        for tenant in self.inner.store.list_tenants().await? {
            self.tenant(&tenant.id).await?;
        }
        let access = self.clone();
        Ok(tokio::spawn(async move { access.run_engine().await }))
    }

    async fn run_engine(&self) {
        loop {
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(ENGINE_INTERVAL) => {}
            }
            let tenants: Vec<Arc<TenantAccess>> = self
                .inner
                .tenants
                .read()
                .expect("tenant map lock")
                .values()
                .cloned()
                .collect();
            for tenant in tenants {
                let store = self.inner.store.tenant(&tenant.tenant_id);
                if let Err(error) = self.notice_locker_changes(&store, &tenant).await {
                    tracing::error!(tenant = %tenant.tenant_id, %error, "reading lockers failed");
                }
                if let Err(error) = engine::catch_up(&store, &tenant, self.now()).await {
                    tracing::error!(tenant = %tenant.tenant_id, %error, "lifecycle pass failed; retrying");
                }
            }
        }
    }

    /// Runs the engine for a tenant now and waits until it has applied
    /// every committed identity event.
    pub(crate) async fn settle(&self, tenant_id: &str) -> Result<(), StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let store = self.inner.store.tenant(tenant_id);
        let now = self.now();
        // A pass runs as its own task, so a request that is dropped between
        // a pass's commit and its index update cannot cut the pass short.
        tokio::spawn(async move { engine::catch_up(&store, &tenant, now).await })
            .await
            .map_err(|err| StoreError::Internal(format!("the lifecycle pass failed: {err}")))?
    }

    /// Tells the engine that SCIM committed identity changes.
    pub(crate) fn identity_written(&self) {
        self.inner.wake.notify_one();
    }

    /// Ends a user's access in the index at once, before the SCIM response
    /// that disabled or deleted them is sent.
    pub(crate) fn user_disabled(
        &self,
        tenant_id: &str,
        user_id: &str,
        version: i64,
        deleted: bool,
    ) {
        if let Some(tenant) = self.loaded(tenant_id) {
            tenant.write().deactivate(user_id, version, deleted);
        }
        self.inner.wake.notify_one();
    }

    /// Reloads the lockers when another process or node changed them.
    async fn notice_locker_changes(
        &self,
        store: &lockgate_store::TenantStore,
        tenant: &TenantAccess,
    ) -> Result<(), StoreError> {
        let now = store.locker_fingerprint().await?;
        let changed = *tenant.lockers_seen.lock().expect("fingerprint lock") != now;
        if changed {
            tracing::info!(tenant = %tenant.tenant_id, "lockers changed outside this server; reloading");
            self.lockers_changed(&tenant.tenant_id).await?;
        }
        Ok(())
    }

    /// Reloads the tenant's sites, zones, banks and lockers into the index
    /// after an admin change or an import.
    pub(crate) async fn lockers_changed(&self, tenant_id: &str) -> Result<(), StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let store = self.inner.store.tenant(tenant_id);
        {
            // Two reloads at once could otherwise store the newer fingerprint
            // with the older lockers, and nothing would ever reload them.
            let _sync = tenant.locker_sync.lock().await;
            // The fingerprint is read first, so a change committed during the
            // reads shows up at the next check. It is stored last, so a failed
            // read is retried.
            let fingerprint = store.locker_fingerprint().await?;
            let lockers = store.locker_snapshot().await?;
            let assignments = store.open_assignments().await?;
            {
                let mut index = tenant.write();
                index.set_lockers(lockers);
                index.set_assignments(&assignments);
            }
            *tenant.lockers_seen.lock().expect("fingerprint lock") = fingerprint;
        }
        self.replan_all(&tenant, &mut *tenant.engine.lock().await);
        Ok(())
    }

    /// Reloads the tenant's policies and re-plans every user.
    pub(crate) async fn policies_changed(&self, tenant_id: &str) -> Result<(), StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let policies = self.inner.store.tenant(tenant_id).latest_policies().await?;
        // No pass runs until every user is re-read: a pass between pages
        // would check users not yet re-read against attributes they lack.
        let mut engine = tenant.engine.lock().await;
        let attributes_changed = tenant.write().set_policies(&policies);
        if attributes_changed {
            self.reload_subjects(tenant_id, &tenant).await?;
        }
        self.replan_all(&tenant, &mut engine);
        Ok(())
    }

    /// Applies new tenant settings and re-reads every user, so badge
    /// numbers follow a changed badge attribute.
    pub(crate) async fn settings_changed(
        &self,
        tenant_id: &str,
        badge_attribute: Option<String>,
    ) -> Result<(), StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let mut engine = tenant.engine.lock().await;
        tenant.write().badge_attribute = badge_attribute;
        self.reload_subjects(tenant_id, &tenant).await?;
        self.replan_all(&tenant, &mut engine);
        Ok(())
    }

    /// Re-reads every user, after a change to what the index keeps of them.
    async fn reload_subjects(
        &self,
        tenant_id: &str,
        tenant: &TenantAccess,
    ) -> Result<(), StoreError> {
        let store = self.inner.store.tenant(tenant_id);
        subject_pages(&store, |page| reread(&mut tenant.write(), page)).await
    }

    /// Marks every user of the tenant for the next pass, given the
    /// engine's state, locked by the caller.
    fn replan_all(&self, tenant: &TenantAccess, engine: &mut EngineState) {
        let users: Vec<String> = tenant.read().users.keys().cloned().collect();
        engine.dirty.extend(users);
        self.inner.wake.notify_one();
    }

    /// The current time, in one place so decisions and plans agree.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let offset = self.inner.clock_offset.load(Ordering::Relaxed);
        OffsetDateTime::now_utc() + time::Duration::seconds(offset)
    }
}
