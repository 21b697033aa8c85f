//! Ending an assignment by hand, for a facility manager who must free a
//! locker now (a broken door, a bank taken out of service) rather than
//! wait for the holder to lose the policy and its grace days to pass.

use lockgate_domain::access::model::LockerId;
use lockgate_domain::audit::Actor;
use lockgate_store::StoreError;

use super::Access;
use super::translate::Translator;

impl Access {
    /// Ends the open assignment `id` now and returns its locker, which goes
    /// to clear-out. The holder is planned again, so one still entitled
    /// under a policy that assigns lockers gets another when one is free.
    pub(crate) async fn end_assignment(
        &self,
        tenant_id: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<LockerId, StoreError> {
        let this = self.clone();
        let (tenant_id, id, actor) = (tenant_id.to_string(), id.to_string(), actor.clone());
        // A request dropped between the commit and the index update would
        // leave the index behind the database, so the change runs as a
        // task of its own, as an engine pass does.
        tokio::spawn(async move { this.end_assignment_now(&tenant_id, &id, &actor).await })
            .await
            .map_err(|err| StoreError::Internal(format!("ending the assignment failed: {err}")))?
    }

    async fn end_assignment_now(
        &self,
        tenant_id: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<LockerId, StoreError> {
        let tenant = self.tenant(tenant_id).await?;

        // Held like a pass of the engine, so no pass plans from an index
        // that this change is about to alter.
        let mut engine = tenant.engine.lock().await;
        let planned = {
            let index = tenant.read();
            let found = index.held.iter().find(|(_, held)| held.id == id);
            found.map(|(locker, held)| {
                let mut translator = Translator::new(self.now());
                translator.end_by_hand(&index, locker, actor);
                let (changes, ops) = translator.finish();
                (
                    changes,
                    ops,
                    held.assignment.user.to_string(),
                    locker.clone(),
                )
            })
        };
        let Some((mut changes, ops, user, locker)) = planned else {
            return Err(self.not_open(tenant_id, id).await);
        };
        // The index may still show a booking that a booking request has
        // ended in the database meanwhile; then nothing is written.
        changes.end_must_apply = true;
        self.inner
            .store
            .tenant(tenant_id)
            .apply_changes(changes)
            .await?;
        tenant.after_commit(|index| index.apply(ops)).await;
        engine.dirty.insert(user);
        self.inner.wake.notify_one();
        Ok(locker)
    }

    /// Explains why assignment `id` cannot be ended: it ended already (a
    /// second request, say), or no assignment has that id.
    async fn not_open(&self, tenant_id: &str, id: &str) -> StoreError {
        match self.inner.store.tenant(tenant_id).assignment_end(id).await {
            Ok(Some((at, reason))) => StoreError::Conflict(format!(
                "assignment \"{id}\" already ended at {at} ({}); GET /assignments lists the \
                 open ones",
                reason.as_deref().unwrap_or("no reason recorded")
            )),
            Ok(None) => StoreError::NotFound(format!("open assignment \"{id}\"")),
            Err(error) => error,
        }
    }
}
