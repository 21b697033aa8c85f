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
    /// gets another locker on the engine's next pass.
    pub(crate) async fn end_assignment(
        &self,
        tenant_id: &str,
        id: &str,
        actor: &Actor,
    ) -> Result<LockerId, StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        // Held like a pass of the engine, so no pass plans from an index
        // that this change is about to alter.
        let mut engine = tenant.engine.lock().await;
        let (changes, ops, user, locker) = {
            let index = tenant.read();
            let found = index.held.iter().find(|(_, held)| held.id == id);
            let Some((locker, held)) = found else {
                return Err(StoreError::NotFound(format!(
                    "open assignment \"{id}\"; GET /assignments lists them"
                )));
            };
            let mut translator = Translator::new(self.now());
            translator.end_by_hand(&index, locker, actor);
            let (changes, ops) = translator.finish();
            (
                changes,
                ops,
                held.assignment.user.to_string(),
                locker.clone(),
            )
        };
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
}
