//! The entitlement engine: which policies apply to a user right now. An
//! entitlement is always derived, never edited by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::model::{GroupId, PolicyId};
use super::policy::{AccessPolicy, AssignmentMode, Lifecycle, What};
use super::subject::{GroupGraph, Subject};

/// One policy that applies to a user, with the terms the lifecycle engine
/// needs copied from the policy version that granted it. Keeping them here
/// lets a mover's grace period come from the policy they lost, even after
/// that policy has been deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub policy: PolicyId,
    pub version: u32,
    pub scope: Arc<What>,
    pub mode: AssignmentMode,
    pub quota: u32,
    pub lifecycle: Lifecycle,
}

/// Computes the entitlements of `subject`, sorted by policy id. An inactive
/// subject has none. When `policies` contains several versions of one policy,
/// only the highest version counts.
pub fn entitlements(
    subject: &Subject,
    graph: &GroupGraph,
    policies: &[AccessPolicy],
) -> Vec<Entitlement> {
    if !subject.active {
        return Vec::new();
    }

    let groups = graph.resolve(&subject.direct_groups);
    let mut latest: BTreeMap<&PolicyId, &AccessPolicy> = BTreeMap::new();
    for policy in policies {
        let newer = latest
            .get(&policy.id)
            .is_none_or(|kept| policy.version > kept.version);
        if newer {
            latest.insert(&policy.id, policy);
        }
    }

    let mut granted: Vec<Entitlement> = latest
        .into_values()
        .filter(|policy| matches(policy, subject, &groups))
        .map(|policy| Entitlement {
            policy: policy.id.clone(),
            version: policy.version,
            scope: policy.what.clone(),
            mode: policy.how,
            quota: policy.quota,
            lifecycle: policy.lifecycle,
        })
        .collect();
    // A filtered collect reserves room for four; the server keeps one list
    // per user, so the spare room would be most of its size.
    granted.shrink_to_fit();
    granted
}

fn matches(policy: &AccessPolicy, subject: &Subject, groups: &BTreeSet<GroupId>) -> bool {
    let who = &policy.who;
    if who.is_empty() {
        return false;
    }

    let attributes_hold = who
        .attributes
        .iter()
        .all(|condition| subject.attributes.get(&condition.name) == Some(&condition.equals));
    if !attributes_hold {
        return false;
    }

    if who.groups.is_empty() && who.app_roles.is_empty() {
        return true;
    }
    let in_group = who.groups.iter().any(|group| groups.contains(group));
    let has_role = who
        .app_roles
        .iter()
        .any(|role| subject.app_roles.contains(role));
    in_group || has_role
}

#[cfg(test)]
mod tests;
