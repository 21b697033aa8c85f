//! The "who lost access, and when" part of the summary: movers in their
//! grace period and leavers, with the account changes the audit log
//! recorded and the notifications about them in the outbox.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::Value;

use super::api::{Api, Assignment};
use super::decisions::Floor;
use super::people::{Cast, People};

/// Audit actions that record a user's account being switched off or on.
const ACCOUNT_ACTIONS: [&str; 3] = ["user_deactivated", "user_deleted", "user_reactivated"];

/// A leaver as the server reports them.
pub(super) struct Leaver {
    pub index: usize,
    /// The SCIM change that ended their account, as the summary names it.
    pub ended_by: &'static str,
    /// `GET /users/{user}/access`.
    pub access: Value,
    /// Account audit actions with the time of the SCIM change, oldest first.
    pub events: Vec<(String, String)>,
    /// Recipients of `access_ended` notifications about the user.
    pub notified: Vec<String>,
}

/// Reads each leaver's access summary, account changes and notifications.
pub(super) async fn read_leavers(
    api: &Api,
    people: &People,
    cast: &Cast,
    outbox: &[Value],
) -> Result<Vec<Leaver>> {
    let events = account_events(api).await?;
    let cases = cast
        .disabled_default
        .iter()
        .map(|&i| (i, "disabled with active \"False\" (default dialect)"))
        .chain(cast.deleted.iter().map(|&i| (i, "deleted")))
        .chain(
            cast.disabled_compliant
                .iter()
                .map(|&i| (i, "disabled with active false (compliant dialect)")),
        );
    let mut leavers = Vec::new();
    for (index, ended_by) in cases {
        let id = people.id(index)?;
        let access = api.admin_get(&format!("/users/{id}/access")).await?;
        let notified = outbox
            .iter()
            .filter(|entry| entry["user"] == id.as_str() && entry["kind"] == "access_ended")
            .filter_map(|entry| entry["recipient"].as_str().map(str::to_string))
            .collect();
        leavers.push(Leaver {
            index,
            ended_by,
            access,
            events: events.get(&id).cloned().unwrap_or_default(),
            notified,
        });
    }
    Ok(leavers)
}

/// Reads the whole audit chain, a page at a time, and returns the account
/// actions by user id with the time of the SCIM change behind each.
async fn account_events(api: &Api) -> Result<HashMap<String, Vec<(String, String)>>> {
    const PAGE: usize = 1000;
    let mut events: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = api
            .admin_get(&format!("/audit?after={after}&limit={PAGE}"))
            .await?;
        let records = page.as_array().cloned().unwrap_or_default();
        for record in &records {
            let action = record["action"].as_str().unwrap_or_default();
            if !ACCOUNT_ACTIONS.contains(&action) {
                continue;
            }
            let at = record["detail"]["occurred_at"]
                .as_str()
                .or(record["at"].as_str())
                .unwrap_or("-");
            let subject = record["subject"].as_str().unwrap_or_default();
            events
                .entry(subject.to_string())
                .or_default()
                .push((action.to_string(), at.to_string()));
        }
        match records.last().and_then(|record| record["seq"].as_i64()) {
            Some(seq) if records.len() == PAGE => after = seq,
            _ => return Ok(events),
        }
    }
}

/// Names an account audit action in the words of the summary.
fn account_change(action: &str) -> &str {
    match action {
        "user_deactivated" => "disabled",
        "user_deleted" => "deleted",
        "user_reactivated" => "enabled again",
        other => other,
    }
}

pub(super) fn print(
    people: &People,
    cast: &Cast,
    floor: &Floor<'_>,
    leavers: &[Leaver],
) -> Result<()> {
    println!("Who lost access, and when");
    println!(
        "  Users who moved or left their ward group keep their locker for the policy's grace period; after it, the locker goes to clear-out."
    );
    println!(
        "  A mover's new locker is the lowest free door in the new ward, skipping doors held by others or waiting for clear-out:"
    );
    let moves = cast
        .ward_movers
        .iter()
        .chain(&cast.removed)
        .chain([&cast.removed_compliant]);
    for change in moves {
        let id = people.id(change.user)?;
        let target = match change.to {
            Some(to) => format!(
                "moved from {} to {}",
                people.group_name(change.from),
                people.group_name(to)
            ),
            None => format!("removed from {}", people.group_name(change.from)),
        };
        let mut assignments: Vec<&Assignment> = floor
            .current
            .iter()
            .filter(|row| row.user_id == id)
            .collect();
        // The locker in grace first, then the new one.
        assignments.sort_by_key(|row| row.grace_until.is_none());
        let lockers: Vec<String> = assignments
            .iter()
            .map(|row| match &row.grace_until {
                Some(until) => format!("keeps {} until {until}", row.locker_id),
                None => format!("new locker {}", row.locker_id),
            })
            .collect();
        let lockers = if lockers.is_empty() {
            "holds no locker".to_string()
        } else {
            lockers.join(", ")
        };
        println!(
            "    {}: {target}; {lockers}",
            people.name_and_badge(change.user)
        );
    }

    println!(
        "  Leavers lose every locker and all access at once (GET /users/{{user}}/access, where \
         {{user}} is the Lockgate id or the userName); one is enabled again in a later cycle:"
    );
    for leaver in leavers {
        // The first account change is the one that made them a leaver, so
        // it is named by how the SCIM request ended the account.
        let when: Vec<String> = leaver
            .events
            .iter()
            .enumerate()
            .map(|(k, (action, at))| match k {
                0 => format!("{} at {at}", leaver.ended_by),
                _ => format!("{} at {at}", account_change(action)),
            })
            .collect();
        let when = if when.is_empty() {
            format!(
                "{}, but no account change in the audit log",
                leaver.ended_by
            )
        } else {
            when.join(", ")
        };
        let lockers: Vec<&str> = leaver.access["lockers"]
            .as_array()
            .map(|list| list.iter().filter_map(|l| l["locker"].as_str()).collect())
            .unwrap_or_default();
        let now = if leaver.access["active"] == Value::Bool(true) {
            format!("now holds {}", lockers.join(", "))
        } else if lockers.is_empty() {
            "holds no locker".to_string()
        } else {
            format!("still holds {}", lockers.join(", "))
        };
        let notified = if leaver.notified.is_empty() {
            "no access_ended notification".to_string()
        } else {
            format!(
                "access_ended notification to {}",
                leaver.notified.join(" and ")
            )
        };
        println!(
            "    {}: {when}; {now}; {notified}",
            people.describe(leaver.index)
        );
    }
    println!();
    Ok(())
}
