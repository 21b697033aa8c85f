//! Sets the demo tenant up over the admin API, then replays Entra's
//! provisioning cycles over SCIM: the initial one, then two incremental
//! ones, one in each of Entra's PATCH dialects.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use lockgate_replay::Script;
use lockgate_replay::generate::{Changes, Dialect, changes_cycle, initial_cycle};
use lockgate_replay::replay::{Target, run};

use super::api::Api;
use super::hospital;
use super::people::{Cast, People};

/// SCIM requests in flight at once, as Entra's provisioning workers send them.
const CONCURRENCY: usize = 4;

/// Imports the hospital, maps badges to `employeeNumber` and saves the policies.
pub(super) async fn set_up(api: &Api) -> Result<()> {
    println!(
        "Setting up the tenant over the admin API ({})",
        api.admin_base()
    );

    let summary = api
        .admin(Method::POST, "/import", Some(hospital::document()))
        .await?;
    // Sorted by kind, as the counts in the summary are.
    let mut by_kind: BTreeMap<&str, u32> = BTreeMap::new();
    for bank in &hospital::BANKS {
        *by_kind.entry(bank.kind).or_default() += bank.doors;
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    println!(
        "  POST /import: {} sites, {} zones, {} banks of 40 to 60 doors, {} lockers ({})",
        summary["sites"],
        summary["zones"],
        summary["banks"],
        summary["lockers"],
        kinds.join(", ")
    );

    let settings = json!({"badge_attribute": "employeeNumber"});
    api.admin(Method::PUT, "/settings", Some(settings)).await?;
    println!("  PUT /settings: badge numbers come from the SCIM attribute employeeNumber");

    for (id, policy) in hospital::policies() {
        let body = json!({"base_version": null, "policy": policy});
        api.admin(Method::PUT, &format!("/policies/{id}"), Some(body))
            .await?;
        println!(
            "  PUT /policies/{id}: {}",
            hospital::describe_policy(&policy)
        );
    }
    println!();
    Ok(())
}

/// Replays Entra's initial cycle and prints a line about it.
pub(super) async fn provision_initial(api: &Api, people: &People) -> Result<()> {
    println!(
        "Replaying Entra's provisioning over SCIM ({})",
        api.scim_base()
    );
    let population = &people.population;
    let initial = initial_cycle(population, Dialect::EntraDefault);
    let (requests, elapsed) = replay(api, people, &initial).await?;
    println!(
        "  cycle 1, initial, Entra's default PATCH dialect: {} users with employeeNumber and department, \
         {} groups, managers, memberships: {requests} requests in {}",
        population.users,
        population.groups,
        seconds(elapsed)
    );
    Ok(())
}

/// Replays two incremental cycles, one in each PATCH dialect, and prints
/// a line for each.
pub(super) async fn provision_changes(api: &Api, people: &People, cast: &Cast) -> Result<()> {
    let population = &people.population;
    let default_changes = Changes {
        joiners: cast.joiners.clone(),
        moves: cast
            .ward_movers
            .iter()
            .chain(&cast.removed)
            .copied()
            .collect(),
        disables: cast.disabled_default.clone(),
        enables: Vec::new(),
        deletes: cast.deleted.clone(),
    };
    let script = changes_cycle(population, Dialect::EntraDefault, &default_changes);
    let (requests, elapsed) = replay(api, people, &script).await?;
    println!(
        "  cycle 2, incremental, Entra's default dialect: {} joiners, {} moved to another ward, \
         {} removed from their ward group, {} disabled ({{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}}), \
         {} deleted (DELETE): {requests} requests in {}",
        cast.joiners.len(),
        cast.ward_movers.len(),
        cast.removed.len(),
        cast.disabled_default.len(),
        cast.deleted.len(),
        seconds(elapsed)
    );

    let compliant_changes = Changes {
        moves: vec![cast.removed_compliant],
        disables: cast.disabled_compliant.clone(),
        enables: vec![cast.re_enabled],
        ..Changes::default()
    };
    let script = changes_cycle(population, Dialect::Compliant, &compliant_changes);
    let (requests, elapsed) = replay(api, people, &script).await?;
    println!(
        "  cycle 3, incremental, compliant dialect (aadOptscim062020): 1 removed from their ward group, \
         {} disabled ({{\"op\":\"replace\",\"value\":{{\"active\":false}}}}), 1 re-enabled: \
         {requests} requests in {}",
        cast.disabled_compliant.len(),
        seconds(elapsed)
    );
    println!();
    Ok(())
}

/// Sends `script` and returns its request count and duration. A response
/// with another status than Entra expects fails the demo.
async fn replay(api: &Api, people: &People, script: &Script) -> Result<(usize, Duration)> {
    let target = Target {
        base_url: api.scim_base(),
        token: api.scim_token.clone(),
        concurrency: CONCURRENCY,
    };
    let started = Instant::now();
    let reports = run(&target, script, &people.bindings).await?;
    let elapsed = started.elapsed();
    let problems: Vec<&String> = reports.iter().flat_map(|r| &r.unexpected).collect();
    if !problems.is_empty() {
        for problem in problems.iter().take(5) {
            eprintln!("  unexpected: {problem}");
        }
        bail!(
            "{} of {} SCIM requests got another status than Entra expects (the first ones are listed above)",
            problems.len(),
            script.request_count()
        );
    }
    Ok((script.request_count(), elapsed))
}

/// Books a flex locker for `doctor` through the app API, with an app
/// token the helpdesk issues, and returns the booking.
pub(super) async fn book_flex_locker(api: &Api, people: &People, doctor: usize) -> Result<Value> {
    let user = people.id(doctor)?;
    let token = api
        .admin(Method::POST, &format!("/users/{user}/app-tokens"), None)
        .await?;
    let Some(token) = token["token"].as_str() else {
        bail!("POST /users/{user}/app-tokens returned no token: {token}");
    };
    api.app(
        token,
        Method::POST,
        "/bookings",
        json!({"hours": 10, "zone": "theatres"}),
    )
    .await
}

/// Formats a replay's duration: milliseconds below a second, where "0.0 s"
/// would hide it, and seconds with one decimal above.
fn seconds(elapsed: Duration) -> String {
    if elapsed < Duration::from_secs(1) {
        format!("{} ms", elapsed.as_millis().max(1))
    } else {
        format!("{:.1} s", elapsed.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_shows_short_replays_in_milliseconds() {
        assert_eq!(seconds(Duration::from_micros(300)), "1 ms");
        assert_eq!(seconds(Duration::from_millis(45)), "45 ms");
        assert_eq!(seconds(Duration::from_millis(999)), "999 ms");
        assert_eq!(seconds(Duration::from_millis(1_000)), "1.0 s");
        assert_eq!(seconds(Duration::from_millis(2_460)), "2.5 s");
    }
}
