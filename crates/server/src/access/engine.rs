//! The lifecycle engine: follows the tenant's identity events, brings the
//! index up to date, plans joiner, mover and leaver actions with the pure
//! lifecycle diff and writes them, with their audit records and the new
//! event position, in one transaction.

use std::collections::{BTreeSet, HashMap, HashSet};

use lockgate_domain::IdentityEvent;
use lockgate_domain::IdentityEventKind as Kind;
use lockgate_domain::access::entitlement::Entitlement;
use lockgate_domain::access::lifecycle::plan;
use lockgate_domain::access::model::{Locker, LockerId, LockerKind, LockerState, PolicyId};
use lockgate_domain::access::policy::AssignmentMode;
use lockgate_domain::audit::Actor;
use lockgate_domain::timestamp;
use lockgate_store::{AuditDraft, StoreError, TenantStore};
use serde_json::json;
use time::OffsetDateTime;

use super::TenantAccess;
use super::index::TenantIndex;
use super::translate::Translator;

/// Events read per pass; a longer backlog takes several passes.
const EVENTS_PER_PASS: i64 = 2_000;

/// Users re-planned per pass from the dirty set. A restart marks every
/// user dirty, and planning 100,000 at once held about 25 MB of previous
/// entitlements and work lists at the same time (by a heap profile).
const DIRTY_PER_PASS: usize = 2_000;

/// What the engine remembers between passes.
#[derive(Debug, Default)]
pub(crate) struct EngineState {
    pub cursor: i64,
    /// Users to re-plan on the next pass, such as after a policy change.
    pub dirty: BTreeSet<String>,
}

/// Runs passes until the tenant's event backlog is applied.
pub(crate) async fn catch_up(
    store: &TenantStore,
    tenant: &TenantAccess,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    loop {
        let more = run_pass(store, tenant, now).await?;
        if !more {
            return Ok(());
        }
    }
}

/// Runs one pass and returns whether more events or dirty users wait.
async fn run_pass(
    store: &TenantStore,
    tenant: &TenantAccess,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut state = tenant.engine.lock().await;
    let events = store.events_after(state.cursor, EVENTS_PER_PASS).await?;
    let mut work = Work::from_events(&events);
    for _ in 0..DIRTY_PER_PASS {
        match state.dirty.pop_first() {
            Some(user) => {
                work.users.insert(user);
            }
            None => break,
        }
    }
    work.sweep(&tenant.read(), now);
    if work.is_empty() {
        return Ok(false);
    }

    if !work.groups.is_empty() {
        let groups = store.all_groups().await?;
        let nested = store.nested_memberships().await?;
        let mut index = tenant.write();
        let before = index.users_under(&work.groups);
        index.set_groups(groups, &nested);
        work.users.extend(before);
        work.users.extend(index.users_under(&work.groups));
    }
    let reload: Vec<String> = work.reload.iter().cloned().collect();
    let rows = store.subjects(&reload).await?;
    let memberships = store.memberships_of(&reload).await?;

    let (changes, ops) = {
        let mut index = tenant.write();
        index.set_memberships_of(&reload, &memberships);
        let found: HashSet<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        for missing in reload.iter().filter(|id| !found.contains(id.as_str())) {
            index.deactivate(missing, i64::MAX, true);
        }
        let mut previous: HashMap<String, Vec<Entitlement>> = HashMap::new();
        for row in &rows {
            if let Some(before) = index.update_user(row) {
                previous.insert(row.id.clone(), before);
            }
        }
        for user in &work.users {
            if !previous.contains_key(user)
                && let Some(before) = index.refresh_entitlements(user)
            {
                previous.insert(user.clone(), before);
            }
        }
        let mut translator = Translator::new(now);
        translator.end_bookings(&index, &work.expired_bookings);
        plan_users(&index, &previous, &mut translator, now);
        translator.sync_badges(&index, previous.keys());
        let (mut changes, ops) = translator.finish();
        changes.audit.splice(0..0, events.iter().map(event_audit));
        changes.cursor = events.last().map(|event| event.seq);
        (changes, ops)
    };

    store.apply_changes(changes).await?;
    tenant.after_commit(|index| index.apply(ops)).await;
    if let Some(last) = events.last() {
        state.cursor = last.seq;
    }
    Ok(events.len() as i64 == EVENTS_PER_PASS || !state.dirty.is_empty())
}

/// The users and groups one pass must look at.
#[derive(Debug, Default)]
struct Work {
    /// Users whose stored row and memberships must be read again.
    reload: BTreeSet<String>,
    /// Users to re-plan: `reload` plus those a group change affects.
    users: BTreeSet<String>,
    /// Groups (Lockgate ids) whose nesting or key changed.
    groups: BTreeSet<String>,
    /// Bookings whose end has passed, by locker.
    expired_bookings: Vec<LockerId>,
}

impl Work {
    fn from_events(events: &[IdentityEvent]) -> Work {
        let mut work = Work::default();
        for event in events {
            match event.kind {
                Kind::UserCreated
                | Kind::UserUpdated
                | Kind::UserDeactivated
                | Kind::UserReactivated
                | Kind::UserDeleted => {
                    work.reload.insert(event.subject_id.clone());
                }
                Kind::MemberAdded | Kind::MemberRemoved => {
                    let member = event.object_id.clone().unwrap_or_default();
                    let is_group =
                        event.detail.get("memberType").and_then(|t| t.as_str()) == Some("Group");
                    if is_group {
                        work.groups.insert(event.subject_id.clone());
                        work.groups.insert(member);
                    } else {
                        work.reload.insert(member);
                    }
                }
                Kind::GroupCreated | Kind::GroupUpdated | Kind::GroupDeleted => {
                    work.groups.insert(event.subject_id.clone());
                }
            }
        }
        work.users.extend(work.reload.iter().cloned());
        work
    }

    /// Adds users whose grace period has run out and bookings that ended.
    fn sweep(&mut self, index: &TenantIndex, now: OffsetDateTime) {
        for held in index.held.values() {
            let assignment = &held.assignment;
            if assignment.grace_until.is_some_and(|until| until <= now) {
                self.users.insert(assignment.user.to_string());
            }
            if assignment.ends_at.is_some_and(|end| end <= now) {
                self.expired_bookings.push(assignment.locker.clone());
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.reload.is_empty()
            && self.users.is_empty()
            && self.groups.is_empty()
            && self.expired_bookings.is_empty()
    }
}

/// Plans every user in `previous` (those whose state was refreshed).
pub(crate) fn plan_users(
    index: &TenantIndex,
    previous: &HashMap<String, Vec<Entitlement>>,
    translator: &mut Translator,
    now: OffsetDateTime,
) {
    let mut pool = Pool::default();
    let mut users: Vec<&String> = previous.keys().collect();
    users.sort();
    for user_id in users {
        let Some(entry) = index.users.get(user_id) else {
            continue;
        };
        let before = &previous[user_id];
        // A booking whose time is up was ended by `end_bookings` in this
        // pass. Running bookings go through the lifecycle diff like any
        // assignment, so a leaver's booked flex locker goes to clear-out and
        // a mover's enters the grace period.
        let held: Vec<_> = index
            .assignments_of(user_id)
            .into_iter()
            .filter(|a| a.ends_at.is_none_or(|end| end > now))
            .collect();
        let leaver = !entry.subject.active || entry.deleted;
        let wants_locker = entry.entitlements.iter().any(auto_assigns);
        if !leaver && held.is_empty() && !wants_locker {
            continue;
        }
        if leaver && held.is_empty() && before.is_empty() && !translator.has_tokens(index, user_id)
        {
            continue;
        }
        let mut lockers: Vec<Locker> = held
            .iter()
            .filter_map(|a| index.lockers.get(&a.locker).cloned())
            .collect();
        if !leaver {
            lockers.extend(pool.candidates(index, &entry.entitlements, &held, translator));
        }
        let actions = plan(
            before,
            &entry.entitlements,
            &held,
            &lockers,
            entry.subject.active,
            entry.deleted,
            now,
        );
        translator.apply_plan(index, user_id, before, &held, actions);
    }
}

fn auto_assigns(entitlement: &Entitlement) -> bool {
    entitlement.mode == (AssignmentMode::Fixed { auto_assign: true })
}

/// Free personal lockers per policy scope, lowest door first, built once
/// per pass so that each joiner costs the lockers they need, not a scan
/// of every locker.
#[derive(Default)]
struct Pool {
    by_policy: HashMap<PolicyId, (Vec<LockerId>, usize)>,
}

impl Pool {
    fn candidates(
        &mut self,
        index: &TenantIndex,
        entitlements: &[Entitlement],
        held: &[lockgate_domain::access::model::Assignment],
        translator: &Translator,
    ) -> Vec<Locker> {
        let missing: usize = entitlements
            .iter()
            .filter(|e| auto_assigns(e))
            .map(|e| {
                let have = held.iter().filter(|a| a.policy == e.policy).count();
                (e.quota as usize).saturating_sub(have)
            })
            .sum();
        if missing == 0 {
            return Vec::new();
        }
        let mut out: Vec<Locker> = Vec::new();
        for entitlement in entitlements.iter().filter(|e| auto_assigns(e)) {
            let (list, cursor) = self
                .by_policy
                .entry(entitlement.policy.clone())
                .or_insert_with(|| (free_in_scope(index, entitlement), 0));
            let mut taken_here = 0;
            let mut position = *cursor;
            while position < list.len() && taken_here < missing {
                let id = &list[position];
                position += 1;
                if translator.is_taken(id) || out.iter().any(|l| &l.id == id) {
                    continue;
                }
                if let Some(locker) = index.lockers.get(id) {
                    out.push(locker.clone());
                    taken_here += 1;
                }
            }
            // Skip over lockers other users took; the rest stay for the next user.
            while *cursor < list.len() && translator.is_taken(&list[*cursor]) {
                *cursor += 1;
            }
        }
        out
    }
}

fn free_in_scope(index: &TenantIndex, entitlement: &Entitlement) -> Vec<LockerId> {
    let mut ids: Vec<LockerId> = index
        .lockers
        .values()
        .filter(|l| l.state == LockerState::Available && l.kind == LockerKind::Personal)
        .filter(|l| !index.held.contains_key(&l.id))
        .filter(|l| entitlement.scope.covers(l))
        .map(|l| l.id.clone())
        .collect();
    ids.sort_by(LockerId::door_order);
    ids
}

/// The audit record of one identity event.
fn event_audit(event: &IdentityEvent) -> AuditDraft {
    let mut detail = json!({
        "event_seq": event.seq,
        "occurred_at": event.occurred_at,
        "change": event.detail,
    });
    if let Some(object) = &event.object_id {
        detail["member"] = json!(object);
    }
    AuditDraft {
        actor: Actor::Scim("identity provider".to_string()),
        source: event.request_id.as_ref().map(|id| format!("scim:{id}")),
        action: event.kind.as_str().to_string(),
        subject: event.subject_id.clone(),
        detail,
    }
}

/// Formats a time for storage.
pub(crate) fn stored(at: OffsetDateTime) -> String {
    timestamp::format(at)
}
