//! Generates Entra-shaped provisioning traffic for a synthetic organisation.
//!
//! Request shapes follow what Entra's provisioning service sends to a custom
//! SCIM application: the probe with a random GUID, a match query before each
//! create, the default attribute mappings, the manager linked in a later
//! update, groups created empty and filled by member PATCHes. Both PATCH
//! dialects are available: Entra's default one and the RFC-compliant one
//! enabled by the `aadOptscim062020` flag.

use serde_json::{Value, json};

use crate::{Phase, RecordedRequest, Script};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Entra's two PATCH dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Capitalised ops, booleans as "True"/"False", member removal as a value array.
    EntraDefault,
    /// `aadOptscim062020`: RFC 7644 ops and booleans, filtered member removal.
    Compliant,
}

impl Dialect {
    fn op(self, name: &str) -> String {
        match self {
            Dialect::EntraDefault => {
                let mut chars = name.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            Dialect::Compliant => name.to_string(),
        }
    }

    fn boolean(self, value: bool) -> Value {
        match self {
            Dialect::EntraDefault => Value::String(if value { "True" } else { "False" }.into()),
            Dialect::Compliant => Value::Bool(value),
        }
    }
}

/// The synthetic organisation.
#[derive(Debug, Clone)]
pub struct Population {
    pub users: usize,
    pub groups: usize,
    /// Groups each user belongs to.
    pub groups_per_user: usize,
    /// Members per member-add PATCH.
    pub members_per_patch: usize,
    /// Named teams that replace the generated shift groups; when set, the
    /// groups are the teams, in order, and each user is in exactly one.
    pub teams: Vec<Team>,
}

/// A team of the organisation: a group whose members share a department
/// and a job title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// The group's `displayName`.
    pub name: String,
    /// The group's Entra object id, sent as its `externalId`. Access
    /// policies name groups by this id.
    pub external_id: String,
    /// The enterprise extension `department` of its members.
    pub department: String,
    /// The `title` of its members.
    pub title: String,
    /// The team's share of the users, relative to the other teams' weights.
    pub weight: usize,
}

impl Population {
    pub fn new(users: usize, groups: usize) -> Self {
        Self {
            users,
            groups,
            groups_per_user: 3.min(groups),
            members_per_patch: 10,
            teams: Vec::new(),
        }
    }

    /// Builds a population whose groups are `teams`, with each user in the
    /// team that [`Population::team_of`] picks.
    pub fn with_teams(users: usize, teams: Vec<Team>) -> Self {
        Self {
            users,
            groups: teams.len(),
            groups_per_user: 1.min(teams.len()),
            members_per_patch: 10,
            teams,
        }
    }

    /// Returns the team of user `i`, or `None` without teams. Users are
    /// spread by the fractional parts of `i` times the golden ratio, a
    /// low-discrepancy sequence, so team sizes stay close to the weights
    /// and neighbouring users land in different teams.
    pub fn team_of(&self, i: usize) -> Option<usize> {
        let total: usize = self.teams.iter().map(|t| t.weight).sum();
        if total == 0 {
            return None;
        }
        const GOLDEN_RATIO_FRACTION: f64 = 0.618_033_988_749_894_9;
        let position = ((i as f64 * GOLDEN_RATIO_FRACTION).fract() * total as f64) as usize;
        let mut end = 0;
        for (t, team) in self.teams.iter().enumerate() {
            end += team.weight;
            if position < end {
                return Some(t);
            }
        }
        Some(self.teams.len() - 1)
    }

    pub fn user_name(&self, i: usize) -> String {
        format!("user{i:06}@lockers.example")
    }

    /// Returns a stable Entra-style object id for user `i`.
    pub fn object_id(&self, i: usize) -> String {
        format!("{:08x}-5a1e-4c0d-9e7b-{:012x}", i, i * 7919)
    }

    pub fn group_name(&self, g: usize) -> String {
        if let Some(team) = self.teams.get(g) {
            return team.name.clone();
        }
        const SHIFTS: [&str; 4] = ["Day", "Night", "Weekend", "Float"];
        format!("Bank {} {} Shift", g / 4 + 1, SHIFTS[g % 4])
    }

    /// Returns the Entra object id of group `g`, sent as its `externalId`.
    pub fn group_external_id(&self, g: usize) -> String {
        match self.teams.get(g) {
            Some(team) => team.external_id.clone(),
            None => format!("{:08x}-6b2f-4d1e-8f8c-{:012x}", g, g * 104_729),
        }
    }

    /// Groups of user `i`: their team, or else spread so every group gets members.
    pub fn groups_of(&self, i: usize) -> Vec<usize> {
        if !self.teams.is_empty() {
            return self.team_of(i).into_iter().collect();
        }
        if self.groups == 0 {
            return Vec::new();
        }
        let mut groups: Vec<usize> = (0..self.groups_per_user)
            .map(|k| (i * 7 + k * 131) % self.groups)
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    /// Returns the manager of user `i`: the first user of each block of ten.
    pub fn manager_of(&self, i: usize) -> Option<usize> {
        let manager = i / 10 * 10;
        (manager != i).then_some(manager)
    }

    /// Builds the POST body Entra sends for user `i` with the default mappings.
    pub fn user_body(&self, i: usize) -> Value {
        const GIVEN: [&str; 8] = [
            "Mira", "Ivo", "Lena", "Tomas", "Aiko", "Femi", "Sara", "Jonas",
        ];
        const FAMILY: [&str; 8] = [
            "Okafor",
            "Brandt",
            "Fischer",
            "Novak",
            "Tanaka",
            "Adeyemi",
            "Lindqvist",
            "Moreau",
        ];
        const DEPARTMENTS: [&str; 6] = [
            "Depot North",
            "Depot South",
            "Ward 3",
            "Ward 7",
            "Pharmacy",
            "Facilities",
        ];
        let given = GIVEN[i % GIVEN.len()];
        let family = FAMILY[(i / GIVEN.len()) % FAMILY.len()];
        let (department, title) = match self.team_of(i).map(|t| &self.teams[t]) {
            Some(team) => (team.department.as_str(), team.title.as_str()),
            None if i.is_multiple_of(10) => (DEPARTMENTS[i % DEPARTMENTS.len()], "Shift lead"),
            None => (DEPARTMENTS[i % DEPARTMENTS.len()], "Nurse"),
        };
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "externalId": self.object_id(i),
            "userName": self.user_name(i),
            "active": true,
            "displayName": format!("{given} {family}"),
            "title": title,
            "preferredLanguage": "en-GB",
            "emails": [{"primary": true, "type": "work", "value": self.user_name(i)}],
            "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
            "phoneNumbers": [{"type": "mobile", "value": format!("+1000{i:07}")}],
            "addresses": [{"type": "work", "locality": "Springfield", "country": "GB", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": format!("E-{i:06}"),
                "department": department,
            },
            "meta": {"resourceType": "User"},
            "roles": []
        })
    }
}

fn request(method: &str, path: String, body: Option<Value>, expect: u16) -> RecordedRequest {
    RecordedRequest {
        method: method.into(),
        path,
        body,
        expect,
        bind: None,
    }
}

fn filter_path(endpoint: &str, attribute: &str, value: &str, extra: &str) -> String {
    let filter = format!("{attribute} eq \"{value}\"");
    let encoded: String = url_encode(&filter);
    format!("/{endpoint}?{extra}filter={encoded}")
}

/// Form-encodes like Entra: `+` for spaces, `%22` for quotes.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn patch_body(operations: Value) -> Value {
    json!({"schemas": [PATCH_URN], "Operations": operations})
}

pub fn user_label(i: usize) -> String {
    format!("u{i}")
}

pub fn group_label(g: usize) -> String {
    format!("g{g}")
}

/// Entra's initial cycle for the whole population.
pub fn initial_cycle(population: &Population, dialect: Dialect) -> Script {
    let probe = Phase {
        name: "probe".into(),
        requests: vec![
            request(
                "GET",
                filter_path(
                    "Users",
                    "userName",
                    "04b5a2de-6e44-4c3e-9b0c-6f1d8d2f7a11",
                    "",
                ),
                None,
                200,
            ),
            request(
                "GET",
                filter_path(
                    "Groups",
                    "displayName",
                    "a7c1e6f0-2b9d-4f5e-8a31-9c0d4e5f6a7b",
                    "excludedAttributes=members&",
                ),
                None,
                200,
            ),
        ],
    };

    let mut users = Vec::with_capacity(population.users * 2);
    for i in 0..population.users {
        users.push(request(
            "GET",
            filter_path("Users", "userName", &population.user_name(i), ""),
            None,
            200,
        ));
        let mut create = request("POST", "/Users".into(), Some(population.user_body(i)), 201);
        create.bind = Some(user_label(i));
        users.push(create);
    }

    let managers = (0..population.users)
        .filter_map(|i| population.manager_of(i).map(|m| (i, m)))
        .map(|(i, m)| {
            let op = json!([{
                "op": dialect.op("add"),
                "path": format!("{ENTERPRISE_URN}:manager"),
                "value": format!("{{{{{}}}}}", user_label(m)),
            }]);
            request(
                "PATCH",
                format!("/Users/{{{{{}}}}}", user_label(i)),
                Some(patch_body(op)),
                200,
            )
        })
        .collect();

    let mut groups = Vec::with_capacity(population.groups * 2);
    for g in 0..population.groups {
        let name = population.group_name(g);
        groups.push(request(
            "GET",
            filter_path(
                "Groups",
                "displayName",
                &name,
                "excludedAttributes=members&",
            ),
            None,
            200,
        ));
        let body = json!({
            "schemas": [GROUP_URN, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": population.group_external_id(g),
            "displayName": name,
            "meta": {"resourceType": "Group"},
        });
        let mut create = request("POST", "/Groups".into(), Some(body), 201);
        create.bind = Some(group_label(g));
        groups.push(create);
    }

    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); population.groups];
    for i in 0..population.users {
        for g in population.groups_of(i) {
            by_group[g].push(i);
        }
    }
    let mut members = Vec::new();
    for (g, users) in by_group.iter().enumerate() {
        for chunk in users.chunks(population.members_per_patch.max(1)) {
            members.push(add_members(dialect, g, chunk));
        }
    }

    Script {
        phases: vec![
            probe,
            Phase {
                name: "users".into(),
                requests: users,
            },
            Phase {
                name: "managers".into(),
                requests: managers,
            },
            Phase {
                name: "groups".into(),
                requests: groups,
            },
            Phase {
                name: "members".into(),
                requests: members,
            },
        ],
    }
}

/// Builds an incremental cycle: title changes for `movers`, disables for `leavers`
/// (each also removed from their first group), as Entra sends them.
pub fn incremental_cycle(
    population: &Population,
    dialect: Dialect,
    movers: &[usize],
    leavers: &[usize],
) -> Script {
    let mut updates = Vec::new();
    for &i in movers {
        let op = match dialect {
            Dialect::EntraDefault => json!([
                {"op": "Replace", "path": "title", "value": "Charge nurse"},
                {"op": "Replace", "path": format!("{ENTERPRISE_URN}:department"), "value": "Ward 9"},
            ]),
            Dialect::Compliant => json!([{"op": "replace", "value": {
                "title": "Charge nurse",
                format!("{ENTERPRISE_URN}:department"): "Ward 9",
            }}]),
        };
        updates.push(request(
            "GET",
            filter_path("Users", "userName", &population.user_name(i), ""),
            None,
            200,
        ));
        updates.push(request(
            "PATCH",
            format!("/Users/{{{{{}}}}}", user_label(i)),
            Some(patch_body(op)),
            200,
        ));
    }
    let mut disables = Vec::new();
    for &i in leavers {
        let op = json!([{"op": dialect.op("replace"), "path": "active", "value": dialect.boolean(false)}]);
        disables.push(request(
            "PATCH",
            format!("/Users/{{{{{}}}}}", user_label(i)),
            Some(patch_body(op)),
            200,
        ));
        if let Some(&g) = population.groups_of(i).first() {
            disables.push(remove_member(dialect, g, i));
        }
    }
    Script {
        phases: vec![
            Phase {
                name: "updates".into(),
                requests: updates,
            },
            Phase {
                name: "leavers".into(),
                requests: disables,
            },
        ],
    }
}

/// Builds the group PATCH that removes user `i` from group `g`: a value
/// array in Entra's default dialect, a filtered path in the compliant one.
fn remove_member(dialect: Dialect, g: usize, i: usize) -> RecordedRequest {
    let member = format!("{{{{{}}}}}", user_label(i));
    let op = match dialect {
        Dialect::EntraDefault => {
            json!([{"op": "Remove", "path": "members", "value": [{"value": member}]}])
        }
        Dialect::Compliant => {
            json!([{"op": "remove", "path": format!("members[value eq \"{member}\"]")}])
        }
    };
    request(
        "PATCH",
        format!("/Groups/{{{{{}}}}}", group_label(g)),
        Some(patch_body(op)),
        204,
    )
}

/// Builds the group PATCH that adds `users` to group `g`.
fn add_members(dialect: Dialect, g: usize, users: &[usize]) -> RecordedRequest {
    let values: Vec<Value> = users
        .iter()
        .map(|&i| json!({"$ref": null, "value": format!("{{{{{}}}}}", user_label(i))}))
        .collect();
    let op = json!([{"op": dialect.op("add"), "path": "members", "value": values}]);
    request(
        "PATCH",
        format!("/Groups/{{{{{}}}}}", group_label(g)),
        Some(patch_body(op)),
        204,
    )
}

/// Builds the user PATCH that sets `active`: Entra's default dialect sends
/// `{"op":"Replace","path":"active","value":"False"}`, the compliant one
/// `{"op":"replace","value":{"active":false}}`.
fn set_active(dialect: Dialect, i: usize, active: bool) -> RecordedRequest {
    let op = match dialect {
        Dialect::EntraDefault => {
            json!([{"op": "Replace", "path": "active", "value": dialect.boolean(active)}])
        }
        Dialect::Compliant => json!([{"op": "replace", "value": {"active": active}}]),
    };
    request(
        "PATCH",
        format!("/Users/{{{{{}}}}}", user_label(i)),
        Some(patch_body(op)),
        200,
    )
}

/// Builds the user PATCH that replaces the enterprise `department` and the `title`.
fn set_department(dialect: Dialect, i: usize, department: &str, title: &str) -> RecordedRequest {
    let department_path = format!("{ENTERPRISE_URN}:department");
    let op = match dialect {
        Dialect::EntraDefault => json!([
            {"op": "Replace", "path": "title", "value": title},
            {"op": "Replace", "path": department_path, "value": department},
        ]),
        Dialect::Compliant => json!([{"op": "replace", "value": {
            "title": title,
            department_path: department,
        }}]),
    };
    request(
        "PATCH",
        format!("/Users/{{{{{}}}}}", user_label(i)),
        Some(patch_body(op)),
        200,
    )
}

/// Builds the match query Entra sends before it updates user `i`.
fn match_user(population: &Population, i: usize) -> RecordedRequest {
    request(
        "GET",
        filter_path("Users", "userName", &population.user_name(i), ""),
        None,
        200,
    )
}

/// A user leaving group `from`, and joining group `to` when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub user: usize,
    pub from: usize,
    pub to: Option<usize>,
}

/// The changes of one incremental cycle, by user index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New users, numbered from `Population::users` up, created and added
    /// to their groups. Joiners get no manager.
    pub joiners: Vec<usize>,
    /// Group changes. A move into a team also changes the user's
    /// department and title to the team's.
    pub moves: Vec<Move>,
    /// Users set to `active` false; their group memberships stay, as when
    /// an account is disabled in Entra.
    pub disables: Vec<usize>,
    /// Users set to `active` true again.
    pub enables: Vec<usize>,
    /// Users deleted with `DELETE /Users/{id}`.
    pub deletes: Vec<usize>,
}

/// Builds an incremental cycle that sends `changes` in `dialect`, in the
/// order joiners, movers, leavers, re-enables. Phases without requests
/// are left out. Users created by earlier cycles must be bound in the
/// [`crate::replay::Bindings`] the script is replayed with.
pub fn changes_cycle(population: &Population, dialect: Dialect, changes: &Changes) -> Script {
    let mut joiners = Vec::new();
    let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); population.groups];
    for &i in &changes.joiners {
        joiners.push(match_user(population, i));
        let mut create = request("POST", "/Users".into(), Some(population.user_body(i)), 201);
        create.bind = Some(user_label(i));
        joiners.push(create);
        for g in population.groups_of(i) {
            by_group[g].push(i);
        }
    }
    let mut joiner_members = Vec::new();
    for (g, users) in by_group.iter().enumerate() {
        for chunk in users.chunks(population.members_per_patch.max(1)) {
            joiner_members.push(add_members(dialect, g, chunk));
        }
    }

    let mut movers = Vec::new();
    for change in &changes.moves {
        movers.push(match_user(population, change.user));
        if let Some(team) = change.to.and_then(|g| population.teams.get(g)) {
            movers.push(set_department(
                dialect,
                change.user,
                &team.department,
                &team.title,
            ));
        }
        movers.push(remove_member(dialect, change.from, change.user));
        if let Some(to) = change.to {
            movers.push(add_members(dialect, to, &[change.user]));
        }
    }

    let mut leavers = Vec::new();
    for &i in &changes.disables {
        leavers.push(match_user(population, i));
        leavers.push(set_active(dialect, i, false));
    }
    for &i in &changes.deletes {
        leavers.push(request(
            "DELETE",
            format!("/Users/{{{{{}}}}}", user_label(i)),
            None,
            204,
        ));
    }

    let mut enables = Vec::new();
    for &i in &changes.enables {
        enables.push(match_user(population, i));
        enables.push(set_active(dialect, i, true));
    }

    let phases = [
        ("joiners", joiners),
        ("joiner-members", joiner_members),
        ("movers", movers),
        ("leavers", leavers),
        ("re-enables", enables),
    ];
    Script {
        phases: phases
            .into_iter()
            .filter(|(_, requests)| !requests.is_empty())
            .map(|(name, requests)| Phase {
                name: name.into(),
                requests,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cycle_has_every_request() {
        let population = Population::new(25, 4);
        let script = initial_cycle(&population, Dialect::EntraDefault);
        let count = |name: &str| {
            script
                .phases
                .iter()
                .find(|p| p.name == name)
                .unwrap()
                .requests
                .len()
        };
        assert_eq!(count("users"), 50, "a match query and a create per user");
        assert_eq!(
            count("managers"),
            22,
            "every user but the three block leads has a manager"
        );
        assert_eq!(count("groups"), 8);
        let memberships: usize = (0..25).map(|i| population.groups_of(i).len()).sum();
        assert!(count("members") >= memberships / population.members_per_patch);
    }

    #[test]
    fn dialects_differ_in_op_case_and_booleans() {
        assert_eq!(Dialect::EntraDefault.op("replace"), "Replace");
        assert_eq!(Dialect::Compliant.op("replace"), "replace");
        assert_eq!(Dialect::EntraDefault.boolean(false), json!("False"));
        assert_eq!(Dialect::Compliant.boolean(false), json!(false));
    }

    #[test]
    fn filters_are_encoded_like_entra() {
        assert_eq!(
            filter_path("Groups", "displayName", "Bank 1 Day Shift", ""),
            "/Groups?filter=displayName+eq+%22Bank+1+Day+Shift%22"
        );
    }

    fn teams() -> Vec<Team> {
        [
            ("Nurses", "n-1", 3),
            ("Doctors", "d-1", 2),
            ("Porters", "p-1", 1),
        ]
        .into_iter()
        .map(|(name, external_id, weight)| Team {
            name: name.into(),
            external_id: external_id.into(),
            department: format!("{name} department"),
            title: name.trim_end_matches('s').into(),
            weight,
        })
        .collect()
    }

    #[test]
    fn teams_follow_their_weights() {
        let population = Population::with_teams(600, teams());
        let mut sizes = [0_usize; 3];
        for i in 0..600 {
            let groups = population.groups_of(i);
            assert_eq!(groups.len(), 1, "user {i}: {groups:?}");
            sizes[groups[0]] += 1;
        }
        for (size, expected) in sizes.into_iter().zip([300, 200, 100]) {
            assert!(size.abs_diff(expected) <= 5, "{sizes:?}");
        }
    }

    #[test]
    fn team_members_carry_department_and_title() {
        let population = Population::with_teams(10, teams());
        let team = &population.teams[population.team_of(4).unwrap()];
        let body = population.user_body(4);
        assert_eq!(body[ENTERPRISE_URN]["department"], team.department.as_str());
        assert_eq!(body["title"], team.title.as_str());
        assert_eq!(body[ENTERPRISE_URN]["employeeNumber"], "E-000004");
        assert_eq!(population.group_external_id(1), "d-1");
        assert_eq!(population.group_name(2), "Porters");
    }

    #[test]
    fn changes_cycle_disables_in_each_dialect() {
        let population = Population::with_teams(20, teams());
        let changes = Changes {
            disables: vec![3],
            ..Changes::default()
        };
        let operations = |dialect| {
            let script = changes_cycle(&population, dialect, &changes);
            let patch = script.phases[0]
                .requests
                .iter()
                .find(|r| r.method == "PATCH")
                .cloned()
                .unwrap();
            patch.body.unwrap()["Operations"].clone()
        };
        assert_eq!(
            operations(Dialect::EntraDefault),
            json!([{"op": "Replace", "path": "active", "value": "False"}])
        );
        assert_eq!(
            operations(Dialect::Compliant),
            json!([{"op": "replace", "value": {"active": false}}])
        );
    }

    #[test]
    fn changes_cycle_orders_its_phases() {
        let population = Population::with_teams(20, teams());
        let changes = Changes {
            joiners: vec![20, 21],
            moves: vec![Move {
                user: 1,
                from: population.team_of(1).unwrap(),
                to: Some(2),
            }],
            disables: vec![2],
            enables: vec![5],
            deletes: vec![6],
        };

        let script = changes_cycle(&population, Dialect::EntraDefault, &changes);
        let names: Vec<&str> = script.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "joiners",
                "joiner-members",
                "movers",
                "leavers",
                "re-enables"
            ]
        );

        let joiners = &script.phases[0].requests;
        assert_eq!(joiners[1].bind.as_deref(), Some("u20"));
        let movers = &script.phases[2].requests;
        assert_eq!(movers.len(), 4, "match, department, removal, addition");
        let delete = script.phases[3].requests.last().unwrap();
        assert_eq!(
            (delete.method.as_str(), delete.path.as_str()),
            ("DELETE", "/Users/{{u6}}")
        );

        assert!(
            changes_cycle(&population, Dialect::Compliant, &Changes::default())
                .phases
                .is_empty()
        );
    }

    #[test]
    fn script_round_trips_through_json_lines() {
        let script = initial_cycle(&Population::new(3, 2), Dialect::Compliant);
        let text = script.to_json_lines();
        assert_eq!(Script::from_json_lines(&text).unwrap(), script);
    }
}
