//! The demo hospital: two sites with wards, theatres and staff rooms, 19
//! banks of 40 to 60 doors (1,000 lockers), the Entra groups of its staff
//! and the access policies that name those groups.

use lockgate_replay::generate::Team;
use serde_json::{Value, json};

/// A locker bank and the lockers behind its doors, all of one kind.
pub(super) struct Bank {
    pub site: &'static str,
    pub zone: &'static str,
    pub id: &'static str,
    pub name: &'static str,
    pub doors: u32,
    pub kind: &'static str,
    pub size: &'static str,
}

const SITES: [(&str, &str); 2] = [
    ("general", "St Brigid's General Hospital"),
    ("riverside", "Riverside Clinic"),
];

/// Zones as (site, id, name).
const ZONES: [(&str, &str, &str); 9] = [
    ("general", "ward-3", "Surgical ward 3"),
    ("general", "ward-5", "Medical ward 5"),
    ("general", "ward-7", "Paediatric ward 7"),
    ("general", "ward-9", "Cardiology ward 9"),
    ("general", "theatres", "Theatre suite"),
    ("general", "staff-room", "Staff room"),
    ("riverside", "day-ward", "Day surgery ward"),
    ("riverside", "rv-theatre", "Riverside theatre"),
    ("riverside", "rv-staff-room", "Riverside staff room"),
];

const fn bank(
    site: &'static str,
    zone: &'static str,
    id: &'static str,
    name: &'static str,
    doors: u32,
    kind: &'static str,
    size: &'static str,
) -> Bank {
    Bank {
        site,
        zone,
        id,
        name,
        doors,
        kind,
        size,
    }
}

// One bank per line reads as a table; rustfmt would spread each over nine lines.
#[rustfmt::skip]
pub(super) const BANKS: [Bank; 19] = [
    bank("general", "ward-3", "w3-a", "Ward 3 locker room A", 50, "personal", "medium"),
    bank("general", "ward-3", "w3-b", "Ward 3 locker room B", 50, "personal", "medium"),
    bank("general", "ward-5", "w5-a", "Ward 5 locker room A", 50, "personal", "medium"),
    bank("general", "ward-5", "w5-b", "Ward 5 locker room B", 50, "personal", "medium"),
    bank("general", "ward-7", "w7-a", "Ward 7 locker room A", 50, "personal", "medium"),
    bank("general", "ward-7", "w7-b", "Ward 7 locker room B", 50, "personal", "medium"),
    bank("general", "ward-9", "w9-a", "Ward 9 locker room A", 50, "personal", "medium"),
    bank("general", "ward-9", "w9-b", "Ward 9 locker room B", 50, "personal", "medium"),
    bank("general", "theatres", "th-a", "Theatre changing room A", 60, "flex", "medium"),
    bank("general", "theatres", "th-b", "Theatre changing room B", 60, "flex", "medium"),
    bank("general", "theatres", "th-c", "Theatre corridor", 60, "flex", "small"),
    bank("general", "staff-room", "sr-team", "Porters' team lockers", 40, "shared", "large"),
    bank("general", "staff-room", "sr-flex", "Staff room day lockers", 60, "flex", "small"),
    bank("riverside", "day-ward", "dw-a", "Day ward locker room A", 50, "personal", "medium"),
    bank("riverside", "day-ward", "dw-b", "Day ward locker room B", 50, "personal", "medium"),
    bank("riverside", "rv-theatre", "rt-a", "Riverside changing room A", 60, "flex", "medium"),
    bank("riverside", "rv-theatre", "rt-b", "Riverside changing room B", 60, "flex", "medium"),
    bank("riverside", "rv-staff-room", "rs-team", "Riverside team lockers", 40, "shared", "large"),
    bank("riverside", "rv-staff-room", "rs-flex", "Riverside day lockers", 60, "flex", "small"),
];

/// Builds the import document (`PhysicalDocument` as JSON) of the hospital.
pub(super) fn document() -> Value {
    let sites: Vec<Value> = SITES
        .iter()
        .map(|&(site, site_name)| {
            let zones: Vec<Value> = ZONES
                .iter()
                .filter(|(zone_site, _, _)| *zone_site == site)
                .map(|&(_, zone, zone_name)| {
                    let banks: Vec<Value> = BANKS
                        .iter()
                        .filter(|bank| bank.site == site && bank.zone == zone)
                        .map(|bank| {
                            json!({
                                "id": bank.id,
                                "name": bank.name,
                                "doors": format!("1-{}", bank.doors),
                                "kind": bank.kind,
                                "size": bank.size,
                            })
                        })
                        .collect();
                    json!({"id": zone, "name": zone_name, "banks": banks})
                })
                .collect();
            json!({"id": site, "name": site_name, "zones": zones})
        })
        .collect();
    json!({ "sites": sites })
}

/// Index of the doctors' team in [`teams`].
pub(super) const DOCTORS: usize = 5;
/// Index of the porters' team in [`teams`].
pub(super) const PORTERS: usize = 6;
/// Indexes of the nurses' teams in [`teams`], one per ward.
pub(super) const NURSE_TEAMS: std::ops::Range<usize> = 0..5;

/// Teams as (group name, Entra object id, department, title, share of staff in percent).
#[rustfmt::skip]
const TEAMS: [(&str, &str, &str, &str, usize); 7] = [
    ("Nurses Ward 3", "5d0c8f4e-3a1b-4c7d-9e2f-1a3b5c7d9e01", "Ward 3", "Staff nurse", 12),
    ("Nurses Ward 5", "5d0c8f4e-3a1b-4c7d-9e2f-1a3b5c7d9e02", "Ward 5", "Staff nurse", 12),
    ("Nurses Ward 7", "5d0c8f4e-3a1b-4c7d-9e2f-1a3b5c7d9e03", "Ward 7", "Staff nurse", 12),
    ("Nurses Ward 9", "5d0c8f4e-3a1b-4c7d-9e2f-1a3b5c7d9e04", "Ward 9", "Staff nurse", 12),
    ("Nurses Day Surgery", "5d0c8f4e-3a1b-4c7d-9e2f-1a3b5c7d9e05", "Day Surgery", "Staff nurse", 12),
    ("Doctors", "a4e2b7c9-6f10-4b3e-8d5a-2c4e6f8a0b11", "Medicine", "Doctor", 25),
    ("Porters", "c81f3d5a-9b2e-4f6c-a7d0-3e5f7a9c1d21", "Facilities", "Porter", 15),
];

/// The zone whose personal lockers each nurses' team gets, in team order.
const NURSE_ZONES: [&str; 5] = ["ward-3", "ward-5", "ward-7", "ward-9", "day-ward"];

/// Returns the staff teams, which the replay sends to Lockgate as SCIM groups.
pub(super) fn teams() -> Vec<Team> {
    TEAMS
        .iter()
        .map(|&(name, external_id, department, title, weight)| Team {
            name: name.into(),
            external_id: external_id.into(),
            department: department.into(),
            title: title.into(),
            weight,
        })
        .collect()
}

/// Returns the access policies as (policy id, `PolicyDocument` JSON). Each
/// names its groups by the `externalId` the replay sends for them.
pub(super) fn policies() -> Vec<(String, Value)> {
    let mut policies: Vec<(String, Value)> = NURSE_TEAMS
        .zip(NURSE_ZONES)
        .map(|(team, zone)| {
            let (name, external_id, ..) = TEAMS[team];
            let policy = json!({
                "name": format!("{name}: a personal locker on their ward"),
                "who": {"groups": [external_id]},
                "what": {"zones": [zone], "kinds": ["personal"]},
                "how": {"mode": "fixed", "auto_assign": true},
                "lifecycle": {"mover_grace_days": 7, "leaver_action": "clear_out"},
            });
            (format!("{zone}-nurses"), policy)
        })
        .collect();
    policies.push((
        "doctors-flex".into(),
        json!({
            "name": "Doctors book a theatre flex locker for up to 12 hours",
            "who": {"groups": [TEAMS[DOCTORS].1]},
            "what": {"zones": ["theatres", "rv-theatre"], "kinds": ["flex"]},
            "how": {"mode": "flex", "max_booking_hours": 12},
        }),
    ));
    policies.push((
        "porters-team".into(),
        json!({
            "name": "Porters share the team lockers in both staff rooms",
            "who": {"groups": [TEAMS[PORTERS].1]},
            "what": {"zones": ["staff-room", "rv-staff-room"], "kinds": ["shared"]},
            "how": {"mode": "shared"},
        }),
    ));
    policies
}

/// Returns a zone's name with its id, such as "Riverside theatre
/// (rv-theatre)", since the ids alone do not say which site they are at.
fn zone_label(id: &str) -> String {
    match ZONES.iter().find(|(_, zone, _)| *zone == id) {
        Some((_, _, name)) => format!("{name} ({id})"),
        None => id.to_string(),
    }
}

/// Returns a one-line description of a policy document for the summary.
pub(super) fn describe_policy(policy: &Value) -> String {
    let assignment = &policy["how"];
    let mode = match assignment["mode"].as_str() {
        Some("fixed") => "fixed locker, assigned automatically".to_string(),
        Some("flex") => format!("flex booking, max {} h", assignment["max_booking_hours"]),
        Some(other) => format!("{other} locker"),
        None => "unknown mode".to_string(),
    };
    let zones: Vec<String> = policy["what"]["zones"]
        .as_array()
        .map(|zones| {
            zones
                .iter()
                .filter_map(Value::as_str)
                .map(zone_label)
                .collect()
        })
        .unwrap_or_default();
    let mut text = format!("{mode} in {}", zones.join(", "));
    if let Some(days) = policy["lifecycle"]["mover_grace_days"].as_u64() {
        let leavers = match policy["lifecycle"]["leaver_action"].as_str() {
            Some("clear_out") => "a leaver's locker waits for clear-out",
            Some("release") => "a leaver's locker is free again at once",
            _ => "leaver action not set",
        };
        text.push_str(&format!("; movers keep it {days} days; {leavers}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_description_names_zones() {
        let policy = json!({
            "what": {"zones": ["theatres", "rv-theatre"]},
            "how": {"mode": "flex", "max_booking_hours": 12},
        });
        assert_eq!(
            describe_policy(&policy),
            "flex booking, max 12 h in Theatre suite (theatres), Riverside theatre (rv-theatre)"
        );
    }

    #[test]
    fn policy_description_explains_leaver_action() {
        let policy = |action: &str| {
            json!({
                "what": {"zones": ["ward-3"]},
                "how": {"mode": "fixed"},
                "lifecycle": {"mover_grace_days": 7, "leaver_action": action},
            })
        };
        assert_eq!(
            describe_policy(&policy("clear_out")),
            "fixed locker, assigned automatically in Surgical ward 3 (ward-3); \
             movers keep it 7 days; a leaver's locker waits for clear-out"
        );
        assert!(describe_policy(&policy("release")).ends_with("is free again at once"));
    }

    #[test]
    fn unknown_zone_keeps_its_id() {
        assert_eq!(zone_label("basement"), "basement");
    }
}
