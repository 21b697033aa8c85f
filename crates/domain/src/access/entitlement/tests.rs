use super::*;
use crate::access::model::GroupId;
use crate::access::policy::{AttributeCondition, Who};
use crate::access::testkit::{fixed_policy, subject};

fn policy_ids(found: &[Entitlement]) -> Vec<&str> {
    found
        .iter()
        .map(|entitlement| entitlement.policy.as_str())
        .collect()
}

#[test]
fn direct_group_grants() {
    let policies = [fixed_policy("p-nurses", "nurses")];
    let found = entitlements(&subject("u1", &["nurses"]), &GroupGraph::new(), &policies);
    assert_eq!(policy_ids(&found), ["p-nurses"]);
}

#[test]
fn other_group_grants_nothing() {
    let policies = [fixed_policy("p-nurses", "nurses")];
    let found = entitlements(&subject("u1", &["porters"]), &GroupGraph::new(), &policies);
    assert!(found.is_empty());
}

#[test]
fn nested_group_grants() {
    let mut graph = GroupGraph::new();
    graph.add_nested(GroupId::new("clinical"), GroupId::new("icu-nurses"));
    let policies = [fixed_policy("p-clinical", "clinical")];
    let found = entitlements(&subject("u1", &["icu-nurses"]), &graph, &policies);
    assert_eq!(policy_ids(&found), ["p-clinical"]);
}

#[test]
fn app_role_grants() {
    let mut policy = fixed_policy("p-role", "nobody");
    policy.who.app_roles = vec!["Locker.User".to_string()];
    let mut user = subject("u1", &[]);
    user.app_roles = vec!["Locker.User".to_string()];

    let found = entitlements(&user, &GroupGraph::new(), &[policy]);
    assert_eq!(policy_ids(&found), ["p-role"]);
}

#[test]
fn attribute_condition_narrows_group() {
    let mut policy = fixed_policy("p-icu", "nurses");
    policy.who.attributes = vec![AttributeCondition {
        name: "department".to_string(),
        equals: "ICU".to_string(),
    }];
    let mut icu = subject("u1", &["nurses"]);
    icu.attributes
        .insert("department".to_string(), "ICU".to_string());
    let mut ward = subject("u2", &["nurses"]);
    ward.attributes
        .insert("department".to_string(), "Ward 3".to_string());
    let unset = subject("u3", &["nurses"]);
    let graph = GroupGraph::new();
    let policies = [policy];

    assert_eq!(
        policy_ids(&entitlements(&icu, &graph, &policies)),
        ["p-icu"]
    );
    assert!(entitlements(&ward, &graph, &policies).is_empty());
    assert!(entitlements(&unset, &graph, &policies).is_empty());
}

#[test]
fn attributes_alone_grant() {
    let mut policy = fixed_policy("p-dept", "ignored");
    policy.who = Who {
        attributes: vec![AttributeCondition {
            name: "department".to_string(),
            equals: "Radiology".to_string(),
        }],
        ..Who::default()
    };
    let mut user = subject("u1", &[]);
    user.attributes
        .insert("department".to_string(), "Radiology".to_string());

    let found = entitlements(&user, &GroupGraph::new(), &[policy]);
    assert_eq!(policy_ids(&found), ["p-dept"]);
}

#[test]
fn empty_who_grants_nothing() {
    let mut policy = fixed_policy("p-empty", "nurses");
    policy.who = Who::default();
    let found = entitlements(&subject("u1", &["nurses"]), &GroupGraph::new(), &[policy]);
    assert!(found.is_empty());
}

#[test]
fn inactive_subject_has_none() {
    let mut user = subject("u1", &["nurses"]);
    user.active = false;
    let found = entitlements(&user, &GroupGraph::new(), &[fixed_policy("p", "nurses")]);
    assert!(found.is_empty());
}

#[test]
fn highest_version_wins() {
    let old = fixed_policy("p", "nurses");
    let mut new = fixed_policy("p", "nurses");
    new.version = 2;
    new.quota = 3;

    let found = entitlements(&subject("u1", &["nurses"]), &GroupGraph::new(), &[new, old]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version, 2);
    assert_eq!(found[0].quota, 3);
}

#[test]
fn newer_version_can_drop_user() {
    // The newest version decides, even when an older one would match.
    let old = fixed_policy("p", "nurses");
    let mut new = fixed_policy("p", "doctors");
    new.version = 2;

    let found = entitlements(&subject("u1", &["nurses"]), &GroupGraph::new(), &[old, new]);
    assert!(found.is_empty());
}

#[test]
fn result_sorted_by_policy() {
    let policies = [fixed_policy("p-b", "nurses"), fixed_policy("p-a", "nurses")];
    let found = entitlements(&subject("u1", &["nurses"]), &GroupGraph::new(), &policies);
    assert_eq!(policy_ids(&found), ["p-a", "p-b"]);
}
