//! The user a decision or an entitlement is about, and the nested group
//! structure their memberships are resolved through.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{GroupId, UserId};

/// A user as the identity store records them. Memberships are kept while the
/// user is inactive, so re-enabling them restores the same access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user: UserId,
    pub active: bool,
    /// Groups the user is a member of directly, not through nesting.
    pub direct_groups: Vec<GroupId>,
    pub app_roles: Vec<String>,
    /// User attributes such as `department`, keyed by attribute name.
    pub attributes: BTreeMap<String, String>,
}

/// Group-in-group memberships of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupGraph {
    /// For each group, the groups it is a direct member of.
    parents: BTreeMap<GroupId, BTreeSet<GroupId>>,
}

impl GroupGraph {
    pub fn new() -> GroupGraph {
        GroupGraph::default()
    }

    /// Records that `child` is a member of `parent`.
    pub fn add_nested(&mut self, parent: GroupId, child: GroupId) {
        self.parents.entry(child).or_default().insert(parent);
    }

    /// Returns `direct` together with every group they are nested in, at
    /// any depth. Each group is visited once, so cycles end the walk.
    pub fn resolve(&self, direct: &[GroupId]) -> BTreeSet<GroupId> {
        let mut seen: BTreeSet<GroupId> = BTreeSet::new();
        let mut pending: Vec<GroupId> = direct.to_vec();

        while let Some(group) = pending.pop() {
            if !seen.insert(group.clone()) {
                continue;
            }
            if let Some(parents) = self.parents.get(&group) {
                pending.extend(parents.iter().filter(|p| !seen.contains(*p)).cloned());
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str) -> GroupId {
        GroupId::new(id)
    }

    fn names(groups: &BTreeSet<GroupId>) -> Vec<&str> {
        groups.iter().map(GroupId::as_str).collect()
    }

    #[test]
    fn resolve_without_nesting() {
        let graph = GroupGraph::new();
        let resolved = graph.resolve(&[group("nurses")]);
        assert_eq!(names(&resolved), ["nurses"]);
    }

    #[test]
    fn resolve_follows_nesting_transitively() {
        let mut graph = GroupGraph::new();
        graph.add_nested(group("clinical"), group("nurses"));
        graph.add_nested(group("staff"), group("clinical"));
        graph.add_nested(group("unrelated"), group("porters"));

        let resolved = graph.resolve(&[group("nurses")]);
        assert_eq!(names(&resolved), ["clinical", "nurses", "staff"]);
    }

    #[test]
    fn resolve_survives_cycles() {
        let mut graph = GroupGraph::new();
        graph.add_nested(group("a"), group("b"));
        graph.add_nested(group("b"), group("c"));
        graph.add_nested(group("c"), group("a"));

        let resolved = graph.resolve(&[group("a")]);
        assert_eq!(names(&resolved), ["a", "b", "c"]);
    }

    #[test]
    fn resolve_does_not_descend() {
        // Being in a parent group grants nothing that its child groups grant.
        let mut graph = GroupGraph::new();
        graph.add_nested(group("staff"), group("nurses"));
        let resolved = graph.resolve(&[group("staff")]);
        assert_eq!(names(&resolved), ["staff"]);
    }
}
