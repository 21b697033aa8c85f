//! Open decisions at the doors, requested the way locker bank controllers
//! request them: a badge or a PIN at one door, with the bank's device token.

use std::collections::HashMap;

use anyhow::{Context as _, Result, anyhow};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::{Api, Assignment, Locker};
use super::people::{Cast, People};

/// The PIN the helpdesk sets for the sample nurse.
const PIN: &str = "4719";
const WRONG_PIN: &str = "1111";
/// A badge number no user has.
const UNKNOWN_BADGE: &str = "E-999999";

/// One decision and what it shows.
pub(super) struct Case {
    /// The user presenting the credential, or `-` for a badge no user has.
    pub person: String,
    /// `badge E-000123` or `PIN 4719`.
    pub credential: String,
    pub locker: Locker,
    /// The reason for trying this door, such as "their own locker".
    pub situation: String,
    /// The decision the policies call for: `allow` or a reason code.
    pub expected: &'static str,
    /// The body of the decision response.
    pub response: Value,
}

impl Case {
    /// Returns `allow` or the reason code of the response.
    pub fn outcome(&self) -> &str {
        match self.response["decision"].as_str() {
            Some("allow") => "allow",
            _ => self.response["reason"].as_str().unwrap_or("deny"),
        }
    }
}

/// The lockers the decisions are about, with their assignments before
/// and after the incremental cycles.
pub(super) struct Floor<'a> {
    pub lockers: &'a HashMap<String, Locker>,
    pub initial: &'a [Assignment],
    pub current: &'a [Assignment],
    /// Device tokens by bank id.
    pub devices: &'a HashMap<String, String>,
}

impl Floor<'_> {
    fn locker(&self, id: &str) -> Result<Locker> {
        self.lockers
            .get(id)
            .cloned()
            .ok_or_else(|| anyhow!("locker {id} is not in GET /lockers"))
    }

    /// Returns the first locker `user` holds in `rows` that `keep` accepts.
    fn held(
        &self,
        rows: &[Assignment],
        user: &str,
        keep: impl Fn(&Assignment) -> bool,
    ) -> Result<Locker> {
        let row = rows
            .iter()
            .find(|row| row.user_id == user && keep(row))
            .ok_or_else(|| anyhow!("user {user} has no matching assignment in GET /assignments"))?;
        self.locker(&row.locker_id)
    }
}

/// A badge decision to request: whose badge, at which locker, and why.
struct Planned {
    user: usize,
    locker: Locker,
    situation: String,
    expected: &'static str,
}

fn planned(
    user: usize,
    locker: Locker,
    situation: impl Into<String>,
    expected: &'static str,
) -> Planned {
    Planned {
        user,
        locker,
        situation: situation.into(),
        expected,
    }
}

/// Requests every sample decision and returns them in order, the sample
/// nurse at their own locker first.
pub(super) async fn run(
    api: &Api,
    people: &People,
    cast: &Cast,
    floor: &Floor<'_>,
) -> Result<Vec<Case>> {
    let mut plan = Vec::new();
    let fixed = |row: &Assignment| row.ends_at.is_none() && row.grace_until.is_none();
    let any = |_: &Assignment| true;

    let nurse_id = people.id(cast.nurse)?;
    let own = floor.held(floor.current, &nurse_id, fixed)?;
    plan.push(planned(
        cast.nurse,
        own.clone(),
        "their own locker",
        "allow",
    ));
    let neighbour = floor
        .current
        .iter()
        .filter(|row| row.user_id != nurse_id)
        .filter_map(|row| floor.lockers.get(&row.locker_id))
        .find(|locker| locker.bank == own.bank)
        .cloned()
        .context("no other locker is assigned in the sample nurse's bank")?;
    let colleague = "a colleague's locker in the same bank";
    plan.push(planned(cast.nurse, neighbour, colleague, "not_assigned"));
    let team_locker = floor.locker("sr-team-1")?;
    let team = "the porters' team locker";
    plan.push(planned(
        cast.nurse,
        team_locker.clone(),
        team,
        "not_entitled",
    ));
    plan.push(planned(cast.porter, team_locker, team, "allow"));

    let doctor_id = people.id(cast.doctor)?;
    let booked = floor.held(floor.current, &doctor_id, |row| row.ends_at.is_some())?;
    let free_flex = floor
        .lockers
        .values()
        .filter(|locker| locker.bank == booked.bank && locker.kind == "flex")
        .filter(|locker| floor.current.iter().all(|row| row.locker_id != locker.id))
        .min_by_key(|locker| locker.door.parse::<u32>().unwrap_or(u32::MAX))
        .cloned()
        .context("the doctor's bank has no free flex locker")?;
    let booking = "the flex locker they booked in the app";
    plan.push(planned(cast.doctor, booked, booking, "allow"));
    let unbooked = "a flex locker they did not book";
    plan.push(planned(cast.doctor, free_flex, unbooked, "not_assigned"));

    let mover = cast.ward_movers[0].user;
    let mover_id = people.id(mover)?;
    let old = floor.held(floor.current, &mover_id, |row| row.grace_until.is_some())?;
    let new = floor.held(floor.current, &mover_id, fixed)?;
    let old_ward = "their old ward's locker, kept for the mover's grace period";
    plan.push(planned(mover, old, old_ward, "allow"));
    plan.push(planned(mover, new, "their new ward's locker", "allow"));
    let removed = cast.removed[0].user;
    let removed_locker = floor.held(floor.current, &people.id(removed)?, any)?;
    let in_grace = "their locker, kept for the grace period after leaving the ward group";
    plan.push(planned(removed, removed_locker, in_grace, "allow"));

    let leavers = [
        (
            cast.disabled_default[1],
            "disabled with active \"False\" (default dialect)",
        ),
        (cast.deleted[0], "deleted with DELETE"),
        (
            cast.disabled_compliant[0],
            "disabled with active false (compliant dialect)",
        ),
    ];
    for (leaver, ended_by) in leavers {
        let locker = floor.held(floor.initial, &people.id(leaver)?, any)?;
        let former = format!("their former locker, {ended_by}");
        plan.push(planned(leaver, locker, former, "inactive_user"));
    }
    let returner_id = people.id(cast.re_enabled)?;
    let first = floor.held(floor.initial, &returner_id, any)?;
    let second = floor.held(floor.current, &returner_id, fixed)?;
    let after_enable = "their new locker after the re-enable";
    plan.push(planned(cast.re_enabled, second, after_enable, "allow"));
    let waiting = "their first locker, now waiting for clear-out";
    plan.push(planned(
        cast.re_enabled,
        first,
        waiting,
        "locker_in_clear_out",
    ));

    let mut cases = Vec::new();
    for Planned {
        user,
        locker,
        situation,
        expected,
    } in plan
    {
        let badge = people.badge(user);
        let response = ask(api, floor, &locker, json!({"type": "badge", "id": badge})).await?;
        cases.push(Case {
            person: people.describe(user),
            credential: format!("badge {badge}"),
            locker,
            situation,
            expected,
            response,
        });
    }

    let response = ask(
        api,
        floor,
        &own,
        json!({"type": "badge", "id": UNKNOWN_BADGE}),
    )
    .await?;
    cases.push(Case {
        person: "no user".into(),
        credential: format!("badge {UNKNOWN_BADGE}"),
        locker: own.clone(),
        situation: "a badge number that belongs to nobody".into(),
        expected: "unknown_credential",
        response,
    });

    api.admin(
        Method::PUT,
        &format!("/users/{nurse_id}/pin"),
        Some(json!({"pin": PIN})),
    )
    .await?;
    for (pin, situation, expected) in [
        (
            PIN,
            "the PIN the helpdesk set (PUT /users/{user}/pin), at their own locker",
            "allow",
        ),
        (WRONG_PIN, "a wrong PIN at the same locker", "wrong_pin"),
    ] {
        let response = ask(api, floor, &own, json!({"type": "pin", "pin": pin})).await?;
        cases.push(Case {
            person: people.describe(cast.nurse),
            credential: format!("PIN {pin}"),
            locker: own.clone(),
            situation: situation.into(),
            expected,
            response,
        });
    }
    Ok(cases)
}

async fn ask(api: &Api, floor: &Floor<'_>, locker: &Locker, credential: Value) -> Result<Value> {
    let token = floor
        .devices
        .get(&locker.bank)
        .ok_or_else(|| anyhow!("no device token for bank {}", locker.bank))?;
    api.decide(token, &locker.bank, &locker.door, credential)
        .await
}
