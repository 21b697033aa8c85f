//! The in-memory index of one tenant: everything an open decision needs,
//! so the decision path never waits for the database. The lifecycle engine
//! and the admin API keep it in step with the store.

use std::collections::{BTreeSet, HashMap};

use lockgate_domain::access::decision::{
    Decision, DecisionContext, DenyReason, OpenMethod, OpenRequest, decide,
};
use lockgate_domain::access::document::PolicyDocument;
use lockgate_domain::access::entitlement::{Entitlement, entitlements};
use lockgate_domain::access::model::{
    Assignment, BankId, GroupId, Locker, LockerId, PolicyId, UserId,
};
use lockgate_domain::access::policy::AccessPolicy;
use lockgate_domain::access::subject::{GroupGraph, Subject};
use lockgate_store::{AssignmentRow, GroupRow, Membership, StoredPolicy, SubjectRow};
use time::OffsetDateTime;

use super::attributes::facts;
use super::time_text::parse_time;

/// One user as the index keeps them.
#[derive(Debug, Clone)]
pub(crate) struct UserEntry {
    pub subject: Subject,
    /// The SCIM `externalId`, which sign-in links to (Entra's object id).
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub manager: Option<String>,
    pub entitlements: Vec<Entitlement>,
    /// The badge number the tenant's badge attribute holds.
    pub scim_badge: Option<String>,
    /// The badge stored for the user from SCIM, which the next badge sync
    /// replaces with `scim_badge` when they differ.
    pub stored_scim_badge: Option<String>,
    /// The SCIM resource version the entry reflects.
    pub version: i64,
    /// The user was deleted; the entry stays so a badge tap names the cause.
    pub deleted: bool,
}

/// An open assignment with its row id.
#[derive(Debug, Clone)]
pub(crate) struct HeldLocker {
    pub id: String,
    pub assignment: Assignment,
}

/// A PIN and its guessing state.
#[derive(Debug, Clone)]
pub(crate) struct PinEntry {
    pub hash: String,
    pub failures: i64,
    pub locked_until: Option<OffsetDateTime>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct TenantIndex {
    pub badge_attribute: Option<String>,
    /// Boxed, because the table's empty slots are as wide as its entries,
    /// several hundred bytes. Unboxed, the table for 100,000 users took
    /// 38 MB in a heap profile, with 131,072 slots.
    pub users: HashMap<String, Box<UserEntry>>,
    /// Group key (the IdP's group id: `externalId`, else Lockgate's id) by
    /// Lockgate group id.
    pub group_keys: HashMap<String, GroupId>,
    pub group_names: HashMap<String, String>,
    /// Direct groups (Lockgate ids) of each user and each group, sorted and
    /// without duplicates. A sorted `Vec` and not a `BTreeSet`, whose first
    /// node takes about 280 bytes even for the one group most users have.
    pub parents: HashMap<String, Vec<String>>,
    pub graph: GroupGraph,
    pub policies: Vec<AccessPolicy>,
    /// User attributes that some policy's conditions name. Only these are
    /// kept per user: a SCIM document carries dozens of attributes, and
    /// keeping them all for 100,000 users costs hundreds of megabytes.
    pub attribute_names: BTreeSet<String>,
    pub lockers: HashMap<LockerId, Locker>,
    pub doors: HashMap<(BankId, String), LockerId>,
    pub door_of: HashMap<LockerId, String>,
    pub held: HashMap<LockerId, HeldLocker>,
    /// Lockers held by each user, sorted. A `Vec`, as for `parents`: a
    /// `BTreeSet` took about 280 bytes for the one locker most holders have.
    pub user_lockers: HashMap<String, Vec<LockerId>>,
    /// Owner of each badge number.
    pub badges: HashMap<String, String>,
    pub pins: HashMap<String, PinEntry>,
    /// App tokens by SHA-256 hash.
    pub user_tokens: HashMap<String, AppToken>,
}

/// An app bearer token: the helpdesk's (no expiry) or the mobile app's.
#[derive(Debug, Clone)]
pub(crate) struct AppToken {
    pub user: String,
    pub expires_at: Option<OffsetDateTime>,
    /// Authentication contexts (`acrs`) of the sign-in that issued it;
    /// empty for helpdesk tokens and after a restart, which only means the
    /// user steps up again.
    pub auth_contexts: Vec<String>,
}

/// The answer to one open attempt.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub decision: Decision,
    pub user: Option<String>,
}

impl TenantIndex {
    pub fn set_groups(&mut self, groups: Vec<GroupRow>, memberships: &[Membership]) {
        self.group_keys.clear();
        self.group_names.clear();
        for group in groups {
            let key = group
                .external_id
                .clone()
                .unwrap_or_else(|| group.id.clone());
            self.group_keys.insert(group.id.clone(), GroupId::new(key));
            self.group_names.insert(group.id, group.display_name);
        }
        self.parents
            .retain(|member, _| !self.group_keys.contains_key(member));
        for membership in memberships {
            self.add_parent(membership);
        }
        self.rebuild_graph();
    }

    fn rebuild_graph(&mut self) {
        let mut graph = GroupGraph::new();
        for (member, groups) in &self.parents {
            let Some(child) = self.group_keys.get(member) else {
                continue;
            };
            for parent in groups {
                if let Some(parent) = self.group_keys.get(parent) {
                    graph.add_nested(parent.clone(), child.clone());
                }
            }
        }
        self.graph = graph;
    }

    /// Replaces the direct groups of users (or groups) with `memberships`.
    pub fn set_memberships_of(&mut self, members: &[String], memberships: &[Membership]) {
        for member in members {
            self.parents.remove(member);
        }
        for membership in memberships {
            self.add_parent(membership);
        }
    }

    fn add_parent(&mut self, membership: &Membership) {
        let groups = self
            .parents
            .entry(membership.member_id.clone())
            .or_default();
        if let Err(position) = groups.binary_search(&membership.group_id) {
            // Most users are in one group, and a plain insert would
            // reserve room for four.
            groups.reserve_exact(1);
            groups.insert(position, membership.group_id.clone());
        }
    }

    /// Replaces the policies in force and returns whether the set of user
    /// attributes they name changed, in which case users must be re-read.
    pub fn set_policies(&mut self, stored: &[StoredPolicy]) -> bool {
        self.policies = stored
            .iter()
            .filter(|policy| !policy.retired)
            .filter_map(|policy| {
                let document: PolicyDocument = serde_json::from_value(policy.document.clone())
                    .inspect_err(|e| tracing::error!(policy = %policy.id, error = %e, "stored policy unreadable"))
                    .ok()?;
                let version = u32::try_from(policy.version).unwrap_or(u32::MAX);
                document
                    .to_policy(&PolicyId::new(&policy.id), version)
                    .inspect_err(|e| tracing::error!(policy = %policy.id, error = %e, "stored policy invalid"))
                    .ok()
            })
            .collect();
        let names: BTreeSet<String> = self
            .policies
            .iter()
            .flat_map(|policy| policy.who.attributes.iter().map(|a| a.name.clone()))
            .collect();
        let changed = names != self.attribute_names;
        self.attribute_names = names;
        changed
    }

    pub fn set_lockers(&mut self, lockers: Vec<(Locker, String)>) {
        self.lockers.clear();
        self.doors.clear();
        self.door_of.clear();
        for (locker, door) in lockers {
            self.doors
                .insert((locker.bank.clone(), door.clone()), locker.id.clone());
            self.door_of.insert(locker.id.clone(), door);
            self.lockers.insert(locker.id.clone(), locker);
        }
    }

    pub fn set_assignments(&mut self, rows: &[AssignmentRow]) {
        self.held.clear();
        self.user_lockers.clear();
        for row in rows {
            self.hold(row);
        }
    }

    /// Adds an open assignment.
    pub fn hold(&mut self, row: &AssignmentRow) {
        let assignment = Assignment {
            locker: LockerId::new(&row.locker_id),
            user: UserId::new(&row.user_id),
            policy: PolicyId::new(&row.policy_id),
            starts_at: parse_time(&row.starts_at).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            ends_at: row.ends_at.as_deref().and_then(parse_time),
            grace_until: row.grace_until.as_deref().and_then(parse_time),
        };
        let lockers = self.user_lockers.entry(row.user_id.clone()).or_default();
        if let Err(at) = lockers.binary_search(&assignment.locker) {
            lockers.insert(at, assignment.locker.clone());
        }
        self.held.insert(
            assignment.locker.clone(),
            HeldLocker {
                id: row.id.clone(),
                assignment,
            },
        );
    }

    /// Removes the open assignment of `locker`.
    pub fn release(&mut self, locker: &LockerId) {
        let Some(held) = self.held.remove(locker) else {
            return;
        };
        let user = held.assignment.user.as_str();
        if let Some(lockers) = self.user_lockers.get_mut(user) {
            lockers.retain(|held| held != locker);
            if lockers.is_empty() {
                self.user_lockers.remove(user);
            }
        }
    }

    /// Updates a user from their stored row unless the index already holds
    /// a newer version. Returns the entitlements before the change, or
    /// `None` when the row was stale.
    pub fn update_user(&mut self, row: &SubjectRow) -> Option<Vec<Entitlement>> {
        if let Some(entry) = self.users.get(&row.id)
            && (entry.version > row.version || entry.deleted)
        {
            return None;
        }
        let facts = facts(&row.document);
        let scim_badge = self
            .badge_attribute
            .as_ref()
            .and_then(|name| facts.attributes.get(name))
            .filter(|badge| !badge.is_empty())
            .cloned();
        let direct_groups = self.direct_group_keys(&row.id);
        // Collected anew rather than retained: an emptied BTreeMap keeps its
        // first node, about 540 bytes for each of 100,000 users.
        let attributes = facts
            .attributes
            .into_iter()
            .filter(|(name, _)| self.attribute_names.contains(name))
            .collect();
        let subject = Subject {
            user: UserId::new(&row.id),
            active: row.active,
            direct_groups,
            app_roles: facts.app_roles,
            attributes,
        };
        let current = entitlements(&subject, &self.graph, &self.policies);
        let stored_scim_badge = self
            .users
            .get_mut(&row.id)
            .and_then(|old| old.stored_scim_badge.take());
        let entry = UserEntry {
            subject,
            external_id: row.external_id.clone(),
            user_name: row.user_name.clone(),
            display_name: row.display_name.clone(),
            manager: facts.manager,
            entitlements: current,
            scim_badge,
            stored_scim_badge,
            version: row.version,
            deleted: false,
        };
        let previous = self
            .users
            .insert(row.id.clone(), Box::new(entry))
            .map(|old| old.entitlements)
            .unwrap_or_default();
        Some(previous)
    }

    /// Recomputes a user's entitlements after a group or policy change and
    /// returns the previous ones.
    pub fn refresh_entitlements(&mut self, user_id: &str) -> Option<Vec<Entitlement>> {
        let direct = self.direct_group_keys(user_id);
        let entry = self.users.get_mut(user_id)?;
        entry.subject.direct_groups = direct;
        let current = entitlements(&entry.subject, &self.graph, &self.policies);
        Some(std::mem::replace(&mut entry.entitlements, current))
    }

    fn direct_group_keys(&self, member: &str) -> Vec<GroupId> {
        let Some(groups) = self.parents.get(member) else {
            return Vec::new();
        };
        // Sized exactly, because each user keeps the list: a filtered
        // collect reserves room for four groups.
        let mut keys = Vec::with_capacity(groups.len());
        keys.extend(
            groups
                .iter()
                .filter_map(|group| self.group_keys.get(group).cloned()),
        );
        keys
    }

    /// Marks a user inactive at once. `version` is the SCIM version that
    /// made the change; an older reload will not undo it.
    pub fn deactivate(&mut self, user_id: &str, version: i64, deleted: bool) {
        if let Some(entry) = self.users.get_mut(user_id) {
            // The entitlements stay until the engine re-plans the user: it
            // needs them to know that access ended and to notify. Decisions
            // check `active` before any entitlement.
            entry.subject.active = false;
            entry.version = entry.version.max(version);
            entry.deleted |= deleted;
        }
    }

    /// Users whose direct groups include one of `groups` (Lockgate ids) or
    /// a group nested in one of them.
    pub fn users_under(&self, groups: &BTreeSet<String>) -> Vec<String> {
        let keys: BTreeSet<&GroupId> = groups
            .iter()
            .filter_map(|group| self.group_keys.get(group))
            .collect();
        self.users
            .iter()
            .filter(|(_, entry)| {
                let resolved = self.graph.resolve(&entry.subject.direct_groups);
                resolved.iter().any(|group| keys.contains(group))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The assignments a user holds.
    pub fn assignments_of(&self, user_id: &str) -> Vec<Assignment> {
        self.user_lockers
            .get(user_id)
            .map(|lockers| {
                lockers
                    .iter()
                    .filter_map(|locker| self.held.get(locker))
                    .map(|held| held.assignment.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn locker_at(&self, bank: &str, door: &str) -> Option<&LockerId> {
        self.doors.get(&(BankId::new(bank), door.to_string()))
    }

    /// Decides an open of `locker` by `user` (`None` when the credential
    /// matched no one). The caller has already checked the PIN itself.
    pub fn decide(
        &self,
        locker: &LockerId,
        user: Option<&str>,
        method: OpenMethod,
        at: OffsetDateTime,
        auth_contexts: &[String],
    ) -> Outcome {
        let outcome = |decision| Outcome {
            decision,
            user: user.map(str::to_string),
        };
        let Some(locker_entry) = self.lockers.get(locker) else {
            return outcome(Decision::Deny(DenyReason::NotEntitled));
        };
        let Some(user_id) = user else {
            return outcome(Decision::Deny(DenyReason::UnknownCredential));
        };
        let Some(entry) = self.users.get(user_id) else {
            // A credential of a user the directory no longer has.
            return outcome(Decision::Deny(DenyReason::InactiveUser));
        };
        let pin_locked = self
            .pins
            .get(user_id)
            .and_then(|pin| pin.locked_until)
            .is_some_and(|until| until > at);
        let assignment = self.held.get(locker).map(|held| &held.assignment);
        let request = OpenRequest {
            user: Some(entry.subject.user.clone()),
            locker: locker.clone(),
            method,
            at,
            auth_contexts: auth_contexts.to_vec(),
        };
        let context = DecisionContext {
            subject: &entry.subject,
            locker: locker_entry,
            assignment,
            entitlements: &entry.entitlements,
            policies: &self.policies,
            pin_locked,
        };
        outcome(decide(&request, &context))
    }
}
