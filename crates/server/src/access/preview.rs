//! Previews of a policy change: the lifecycle engine run on a copy of the
//! index with the proposed policy in place, counting what would change and
//! writing nothing.

use std::collections::HashMap;

use lockgate_domain::access::model::PolicyId;
use lockgate_domain::access::policy::AccessPolicy;
use lockgate_store::StoreError;
use serde::Serialize;

use super::Access;
use super::engine::plan_users;
use super::translate::Translator;

/// What a policy change would do, as counts and a few example users.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct PreviewReport {
    pub users_gaining_access: usize,
    pub users_losing_access: usize,
    pub lockers_assigned: usize,
    pub assignments_ended: usize,
    pub grace_periods_started: usize,
    pub lockers_to_clear_out: usize,
    pub notifications: usize,
    /// Up to ten users who would lose access, by user name.
    pub losing_examples: Vec<String>,
    /// Up to ten users who would gain access, by user name.
    pub gaining_examples: Vec<String>,
}

impl Access {
    /// Previews replacing policy `id` with `proposed` (`None` retires it).
    pub(crate) async fn preview(
        &self,
        tenant_id: &str,
        id: &PolicyId,
        proposed: Option<AccessPolicy>,
    ) -> Result<PreviewReport, StoreError> {
        let tenant = self.tenant(tenant_id).await?;
        let mut copy = tenant.read().clone();
        let new_names: Vec<String> = proposed
            .iter()
            .flat_map(|policy| policy.who.attributes.iter().map(|a| a.name.clone()))
            .filter(|name| !copy.attribute_names.contains(name))
            .collect();
        // The index keeps only attributes that policies in force name, so
        // a proposal that names others needs the users read again. That
        // happens under the current policies, so the entitlements before
        // the change stay what they are.
        if !new_names.is_empty() {
            copy.attribute_names.extend(new_names);
            let store = self.inner.store.tenant(tenant_id);
            super::subject_pages(&store, |page| super::reread(&mut copy, page)).await?;
        }
        copy.policies.retain(|policy| &policy.id != id);
        copy.policies.extend(proposed);

        let mut report = PreviewReport::default();
        let users: Vec<String> = copy.users.keys().cloned().collect();
        let mut previous = HashMap::new();
        for user in users {
            let Some(before) = copy.refresh_entitlements(&user) else {
                continue;
            };
            let after = &copy.users[&user].entitlements;
            let had = before.iter().any(|e| &e.policy == id);
            let has = after.iter().any(|e| &e.policy == id);
            let name = copy.users[&user].user_name.clone();
            if had && !has {
                report.users_losing_access += 1;
                if report.losing_examples.len() < 10 {
                    report.losing_examples.push(name);
                }
            } else if has && !had {
                report.users_gaining_access += 1;
                if report.gaining_examples.len() < 10 {
                    report.gaining_examples.push(name);
                }
            }
            previous.insert(user, before);
        }
        let mut translator = Translator::new(self.now());
        plan_users(&copy, &previous, &mut translator, self.now());
        let (changes, _) = translator.finish();
        report.lockers_assigned = changes.assign.len();
        report.assignments_ended = changes.end.len();
        report.grace_periods_started = changes.grace.iter().filter(|(_, g)| g.is_some()).count();
        report.lockers_to_clear_out = changes
            .locker_states
            .iter()
            .filter(|(_, state)| state == "clear_out")
            .count();
        report.notifications = changes.outbox.len();
        report.losing_examples.sort();
        report.gaining_examples.sort();
        Ok(report)
    }
}
