//! The summary printed after the replay: counts, who holds which locker,
//! who lost access and when, the lockers waiting for clear-out, the open
//! decisions, the notifications and the audit chain check. Every count
//! comes from the server's SCIM and admin APIs.

use std::collections::{BTreeMap, HashMap};

use anyhow::Result;
use serde_json::Value;

use super::api::{Api, Assignment};
use super::decisions::{Case, Floor};
use super::lost_access;
use super::people::{Cast, People};

/// Lockers listed in "who got which locker".
const LOCKERS_LISTED: usize = 12;

/// Prints every section of the summary.
pub(super) async fn print(
    api: &Api,
    people: &People,
    cast: &Cast,
    floor: &Floor<'_>,
    cases: &[Case],
) -> Result<()> {
    let users_total = people.population.users + cast.joiners.len();
    let by_id = people.indexes_by_id(users_total);
    let name_of = |id: &str| match by_id.get(id) {
        Some(&i) => people.describe(i),
        None => id.to_string(),
    };
    // The outbox route waits for the lifecycle engine, like /assignments.
    let outbox = api.admin_get("/outbox?limit=1000").await?;
    let outbox = outbox.as_array().cloned().unwrap_or_default();
    let leavers = lost_access::read_leavers(api, people, cast, &outbox).await?;

    println!("Summary");
    println!("  tenant:        {}", api.slug);
    println!("  SCIM base URL: {}", api.scim_base());
    println!("  admin API:     {}", api.admin_base());
    println!();

    print_counts(api, floor, &leavers).await?;
    print_holders(people, floor.current, &by_id);
    lost_access::print(people, cast, floor, &leavers)?;
    print_clear_out(api, floor, &name_of).await?;
    print_decisions(api, people, cast, cases).await?;
    print_outbox(&outbox);

    let audit = api.admin_get("/audit/verify").await?;
    if audit["intact"] == Value::Bool(true) {
        println!("audit chain intact: {} records", audit["records"]);
    } else {
        println!(
            "audit chain BROKEN after {} records: {}",
            audit["records"], audit["error"]
        );
    }
    Ok(())
}

async fn print_counts(api: &Api, floor: &Floor<'_>, leavers: &[lost_access::Leaver]) -> Result<()> {
    let total = |page: Value| page["totalResults"].as_u64().unwrap_or_default();
    let users = total(api.scim_get("/Users?count=0").await?);
    let inactive = total(
        api.scim_get("/Users?filter=active+eq+false&count=0")
            .await?,
    );
    let groups = total(
        api.scim_get("/Groups?count=0&excludedAttributes=members")
            .await?,
    );
    let deleted = leavers
        .iter()
        .filter(|leaver| leaver.access["deleted"] == Value::Bool(true))
        .count();
    println!("Counts");
    println!(
        "  users:   {users} in SCIM ({} active, {inactive} disabled); {deleted} deleted",
        users.saturating_sub(inactive)
    );
    println!("  groups:  {groups}");

    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for locker in floor.lockers.values() {
        *by_state.entry(&locker.state).or_default() += 1;
        *by_kind.entry(&locker.kind).or_default() += 1;
    }
    println!(
        "  lockers: {} ({}); by state: {}",
        floor.lockers.len(),
        join_counts(&by_kind),
        join_counts(&by_state)
    );
    let bookings = floor
        .current
        .iter()
        .filter(|row| row.ends_at.is_some())
        .count();
    let in_grace = floor
        .current
        .iter()
        .filter(|row| row.grace_until.is_some())
        .count();
    println!(
        "  assignments: {} open, of which {bookings} booked and {in_grace} in a grace period after \
         losing the group",
        floor.current.len()
    );
    println!();
    Ok(())
}

fn join_counts(counts: &BTreeMap<&str, usize>) -> String {
    counts
        .iter()
        // State names as the API spells them use `_`; prose uses `-`.
        .map(|(name, count)| format!("{count} {}", name.replace('_', "-")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lists the first users' lockers in provisioning order, then every booking.
fn print_holders(people: &People, current: &[Assignment], by_id: &HashMap<String, usize>) {
    let mut fixed: Vec<(usize, &Assignment)> = current
        .iter()
        .filter(|row| row.ends_at.is_none() && row.grace_until.is_none())
        .filter_map(|row| by_id.get(&row.user_id).map(|&i| (i, row)))
        .collect();
    fixed.sort_by_key(|(i, _)| *i);
    let bookings = current.iter().filter(|row| row.ends_at.is_some()).count();
    let in_grace = current
        .iter()
        .filter(|row| row.grace_until.is_some())
        .count();
    println!(
        "Who got which locker (GET /assignments): {} open assignments, of which {} fixed, \
         {in_grace} in a grace period after losing the group and {bookings} booked.\n  \
         Below: the fixed lockers of the first {LOCKERS_LISTED} people by employee number who hold one \
         (GET /assignments itself lists them by door), then every booking:",
        current.len(),
        fixed.len()
    );
    for (i, row) in fixed.iter().take(LOCKERS_LISTED) {
        println!(
            "  {:<10} {}  [policy {}]",
            row.locker_id,
            people.describe(*i),
            row.policy_id
        );
    }
    for row in current.iter().filter(|row| row.ends_at.is_some()) {
        let holder = by_id
            .get(&row.user_id)
            .map(|&i| people.describe(i))
            .unwrap_or_else(|| row.user_id.clone());
        let end = row.ends_at.as_deref().unwrap_or("-");
        println!(
            "  {:<10} {holder}  [policy {}, booked until {end}]",
            row.locker_id, row.policy_id
        );
    }
    println!();
}

async fn print_clear_out(
    api: &Api,
    floor: &Floor<'_>,
    name_of: &dyn Fn(&str) -> String,
) -> Result<()> {
    let waiting = api.lockers("?state=clear_out").await?;
    println!(
        "Lockers waiting for clear-out (GET /lockers?state=clear_out): {}",
        waiting.len()
    );
    let holders: HashMap<&str, &str> = floor
        .initial
        .iter()
        .map(|row| (row.locker_id.as_str(), row.user_id.as_str()))
        .collect();
    for locker in &waiting {
        let previous = holders
            .get(locker.id.as_str())
            .map(|user| name_of(user))
            .unwrap_or_else(|| "-".to_string());
        println!("  {:<10} last held by {previous}", locker.id);
    }
    println!(
        "  A facility manager empties each one and records it with POST /lockers/{{locker}}/emptied."
    );
    println!();
    Ok(())
}

async fn print_decisions(api: &Api, people: &People, cast: &Cast, cases: &[Case]) -> Result<()> {
    println!("Open decisions (POST /device/v1/decisions with each bank's device token)");
    for case in cases {
        let verdict = if case.outcome() == "allow" {
            "ALLOW"
        } else {
            "DENY "
        };
        // The request names the bank and door, while the lists above use
        // the locker id, so both appear.
        let door = format!(
            "{} (bank {} door {})",
            case.locker.id, case.locker.bank, case.locker.door
        );
        println!(
            "  {verdict} {:<15} at {door:<31} {}: {}",
            case.credential, case.person, case.situation
        );
        if let Some(reason) = case.response["reason"].as_str() {
            println!(
                "        {reason}: {}",
                case.response["explanation"].as_str().unwrap_or_default()
            );
        }
        if case.outcome() != case.expected {
            println!(
                "        NOTE: the policies call for {}, but the server answered {}",
                case.expected,
                case.outcome()
            );
        }
    }

    let nurse = people.id(cast.nurse)?;
    let explain = api
        .admin_get(&format!("/explain?user={nurse}&locker=sr-team-1"))
        .await?;
    let policies: Vec<&str> = explain["policies"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!(
        "  GET /explain?user={}&locker=sr-team-1 for {}: {} {}, their policies: {}",
        people.user_name(cast.nurse),
        people.describe(cast.nurse),
        explain["decision"].as_str().unwrap_or("-"),
        explain["reason"].as_str().unwrap_or(""),
        policies.join(", ")
    );
    println!();
    Ok(())
}

fn print_outbox(outbox: &[Value]) {
    let mut kinds: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for entry in outbox {
        let kind = entry["kind"].as_str().unwrap_or("-").to_string();
        let recipient = entry["recipient"].as_str().unwrap_or("-").to_string();
        *kinds.entry(kind).or_default().entry(recipient).or_default() += 1;
    }
    // Without the note, 250 locker_assigned beside 246 open assignments
    // reads as a mistake: the outbox keeps every cycle's notifications.
    let scope = if outbox.len() == 1000 {
        "the newest 1000"
    } else {
        "from every cycle"
    };
    println!(
        "Notifications in the outbox (GET /outbox): {} ({scope}, so lockers assigned and \
         later lost count too)",
        outbox.len()
    );
    for (kind, recipients) in &kinds {
        let total: usize = recipients.values().sum();
        let to: Vec<String> = recipients
            .iter()
            .map(|(recipient, count)| format!("{count} to {recipient}"))
            .collect();
        println!("  {kind:<18} {total:>4}  ({})", to.join(", "));
    }
    println!();
}
