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
}

impl Population {
    pub fn new(users: usize, groups: usize) -> Self {
        Self {
            users,
            groups,
            groups_per_user: 3.min(groups),
            members_per_patch: 10,
        }
    }

    pub fn user_name(&self, i: usize) -> String {
        format!("user{i:06}@lockers.example")
    }

    /// Returns a stable Entra-style object id for user `i`.
    pub fn object_id(&self, i: usize) -> String {
        format!("{:08x}-5a1e-4c0d-9e7b-{:012x}", i, i * 7919)
    }

    pub fn group_name(&self, g: usize) -> String {
        const SHIFTS: [&str; 4] = ["Day", "Night", "Weekend", "Float"];
        format!("Bank {} {} Shift", g / 4 + 1, SHIFTS[g % 4])
    }

    /// Groups of user `i`: spread so every group gets members.
    pub fn groups_of(&self, i: usize) -> Vec<usize> {
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
        json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "externalId": self.object_id(i),
            "userName": self.user_name(i),
            "active": true,
            "displayName": format!("{given} {family}"),
            "title": if i.is_multiple_of(10) { "Shift lead" } else { "Nurse" },
            "preferredLanguage": "en-GB",
            "emails": [{"primary": true, "type": "work", "value": self.user_name(i)}],
            "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
            "phoneNumbers": [{"type": "mobile", "value": format!("+1000{i:07}")}],
            "addresses": [{"type": "work", "locality": "Springfield", "country": "GB", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": format!("E-{i:06}"),
                "department": DEPARTMENTS[i % DEPARTMENTS.len()],
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
            "externalId": format!("{:08x}-6b2f-4d1e-8f8c-{:012x}", g, g * 104_729),
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
            let values: Vec<Value> = chunk
                .iter()
                .map(|&i| json!({"$ref": null, "value": format!("{{{{{}}}}}", user_label(i))}))
                .collect();
            let op = json!([{"op": dialect.op("add"), "path": "members", "value": values}]);
            members.push(request(
                "PATCH",
                format!("/Groups/{{{{{}}}}}", group_label(g)),
                Some(patch_body(op)),
                204,
            ));
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
            let member = format!("{{{{{}}}}}", user_label(i));
            let op = match dialect {
                Dialect::EntraDefault => {
                    json!([{"op": "Remove", "path": "members", "value": [{"value": member}]}])
                }
                Dialect::Compliant => {
                    json!([{"op": "remove", "path": format!("members[value eq \"{member}\"]")}])
                }
            };
            disables.push(request(
                "PATCH",
                format!("/Groups/{{{{{}}}}}", group_label(g)),
                Some(patch_body(op)),
                204,
            ));
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

    #[test]
    fn script_round_trips_through_json_lines() {
        let script = initial_cycle(&Population::new(3, 2), Dialect::Compliant);
        let text = script.to_json_lines();
        assert_eq!(Script::from_json_lines(&text).unwrap(), script);
    }
}
