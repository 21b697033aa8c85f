//! Builds the benchmark tenant: the tenant and device tokens through the
//! CLI, lockers, settings and the policy through the admin API, and users
//! and their group through SCIM, as an identity provider would send them.
//! Every step is timed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::admin::AdminClient;
use super::process::Lockgate;
use super::{BankAccess, Fixture, Holder};
use crate::replay::{Bindings, PhaseReport, Target, run};
use crate::{Phase, RecordedRequest, Script};

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The id of the policy that hands out personal lockers.
pub const POLICY_ID: &str = "personal-lockers";

/// The Entra object id of the group whose members get a personal locker,
/// sent as the group's `externalId` and named by the policy.
pub const GROUP_EXTERNAL_ID: &str = "5f0c2a9e-1d4b-4c8e-9a7f-3b6d2e8c1f40";

/// Members added per group PATCH, as Entra's provisioning service batches them.
const MEMBERS_PER_PATCH: usize = 10;

/// How often `GET /assignments` is retried when the engine's backlog
/// outlasts the server's 30-second request timeout.
const ASSIGNMENT_ATTEMPTS: usize = 20;

/// The lockers: one site, zones of `banks_per_zone` banks, and banks of
/// `doors_per_bank` doors. Personal banks come first, then flex banks,
/// then shared banks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub banks: usize,
    pub doors_per_bank: u32,
    pub flex_banks: usize,
    pub shared_banks: usize,
    pub banks_per_zone: usize,
}

impl Layout {
    /// Rejects layouts the import or the policy cannot express.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.banks == 0 || self.banks > 9_999 {
            bail!("--banks {} is out of range; use 1 to 9999", self.banks);
        }
        if !(1..=1000).contains(&self.doors_per_bank) {
            bail!(
                "--doors-per-bank {} is out of range; use 1 to 1000",
                self.doors_per_bank
            );
        }
        if self.flex_banks + self.shared_banks >= self.banks {
            bail!(
                "--flex-banks {} and --shared-banks {} leave no personal bank of {}",
                self.flex_banks,
                self.shared_banks,
                self.banks
            );
        }
        if self.banks_per_zone == 0 {
            bail!("banks per zone must be at least 1");
        }
        Ok(())
    }

    pub fn personal_banks(&self) -> usize {
        self.banks - self.flex_banks - self.shared_banks
    }

    pub fn lockers(&self) -> usize {
        self.banks * self.doors_per_bank as usize
    }

    pub fn personal_lockers(&self) -> usize {
        self.personal_banks() * self.doors_per_bank as usize
    }

    /// Returns the id of bank `b` (from 0), such as `b0001`.
    pub fn bank_id(b: usize) -> String {
        format!("b{:04}", b + 1)
    }

    fn zone_id(z: usize) -> String {
        format!("z{:03}", z + 1)
    }

    fn kind(&self, b: usize) -> &'static str {
        if b < self.personal_banks() {
            "personal"
        } else if b < self.banks - self.shared_banks {
            "flex"
        } else {
            "shared"
        }
    }

    /// Builds the body of `POST /import`.
    pub fn import_document(&self) -> Value {
        let zones: Vec<Value> = (0..self.banks)
            .collect::<Vec<_>>()
            .chunks(self.banks_per_zone)
            .enumerate()
            .map(|(z, banks)| {
                let banks: Vec<Value> = banks
                    .iter()
                    .map(|&b| {
                        json!({
                            "id": Self::bank_id(b),
                            "name": format!("Bank {}", b + 1),
                            "doors": format!("1-{}", self.doors_per_bank),
                            "kind": self.kind(b),
                            "size": "medium",
                        })
                    })
                    .collect();
                json!({"id": Self::zone_id(z), "name": format!("Floor {}", z + 1), "banks": banks})
            })
            .collect();
        json!({"sites": [{"id": "hq", "name": "Headquarters", "zones": zones}]})
    }

    /// Returns the zones that contain at least one personal bank.
    fn personal_zones(&self) -> Vec<String> {
        let zones = self.personal_banks().div_ceil(self.banks_per_zone);
        (0..zones).map(Self::zone_id).collect()
    }

    /// Builds the policy: members of the group get one personal locker in
    /// the personal zones, assigned by the engine.
    pub fn policy(&self) -> Value {
        json!({
            "name": "A personal locker for every member of Locker users",
            "who": {"groups": [GROUP_EXTERNAL_ID]},
            "what": {"zones": self.personal_zones(), "kinds": ["personal"]},
            "how": {"mode": "fixed", "auto_assign": true},
        })
    }
}

/// Returns the badge number of user `i`, which SCIM sends as `employeeNumber`.
pub fn badge(i: usize) -> String {
    format!("E{i:07}")
}

fn user_label(i: usize) -> String {
    format!("user{i}")
}

/// Builds the SCIM user Entra would send for user `i`.
fn user_body(i: usize) -> Value {
    const DEPARTMENTS: [&str; 5] = ["Depot", "Ward 3", "Ward 7", "Pharmacy", "Facilities"];
    json!({
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": format!("{i:08x}-3c1e-4d7a-9b52-{:012x}", i * 7_919),
        "userName": format!("user{i:07}@lockers.example"),
        "active": true,
        "displayName": format!("Locker User {i}"),
        "name": {"givenName": "Locker", "familyName": format!("User {i}")},
        "emails": [{"primary": true, "type": "work", "value": format!("user{i:07}@lockers.example")}],
        ENTERPRISE_URN: {
            "employeeNumber": badge(i),
            "department": DEPARTMENTS[i % DEPARTMENTS.len()],
        },
    })
}

/// The secrets the CLI printed.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub tenant: String,
    pub admin_token: String,
    pub scim_token: String,
    pub banks: Vec<BankAccess>,
}

/// One timed setup step.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub elapsed: Duration,
    /// Counts or rates worth reporting next to the time.
    pub detail: String,
}

impl Step {
    pub fn new(name: impl Into<String>, elapsed: Duration, detail: impl Into<String>) -> Step {
        Step {
            name: name.into(),
            elapsed,
            detail: detail.into(),
        }
    }
}

/// Creates the tenant and one device token per bank with the CLI, running
/// up to `parallel` commands at once.
pub fn create_credentials(
    lockgate: &Lockgate,
    tenant: &str,
    layout: &Layout,
    parallel: usize,
    steps: &mut Vec<Step>,
) -> anyhow::Result<Credentials> {
    let started = Instant::now();
    let created = lockgate.run_json(&["tenant", "create", tenant, "--json"])?;
    let text = |key: &str| {
        created[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("`lockgate tenant create --json` printed no {key}"))
    };
    let (admin_token, scim_token) = (text("admin_token")?, text("scim_token")?);
    steps.push(Step::new(
        "tenant (lockgate tenant create)",
        started.elapsed(),
        "",
    ));

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let tokens: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; layout.banks]);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= layout.banks || failure.lock().expect("failure lock").is_some() {
                        return;
                    }
                    let bank = Layout::bank_id(b);
                    let created = lockgate.run_json(&[
                        "device-token",
                        "create",
                        tenant,
                        "--bank",
                        &bank,
                        "--json",
                    ]);
                    match created.map(|value| value["device_token"].as_str().map(str::to_string)) {
                        Ok(Some(token)) => tokens.lock().expect("tokens lock")[b] = Some(token),
                        Ok(None) => {
                            *failure.lock().expect("failure lock") = Some(anyhow::anyhow!(
                                "`lockgate device-token create --json` printed no device_token"
                            ));
                        }
                        Err(error) => *failure.lock().expect("failure lock") = Some(error),
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().expect("failure lock") {
        return Err(error);
    }
    let banks = tokens
        .into_inner()
        .expect("tokens lock")
        .into_iter()
        .enumerate()
        .map(|(b, token)| BankAccess {
            id: Layout::bank_id(b),
            device_token: token.unwrap_or_default(),
        })
        .collect();
    steps.push(Step::new(
        format!(
            "{} device tokens (lockgate device-token create)",
            layout.banks
        ),
        started.elapsed(),
        format!("{parallel} commands at a time"),
    ));
    Ok(Credentials {
        tenant: tenant.to_string(),
        admin_token,
        scim_token,
        banks,
    })
}

/// Sizes of the provisioning traffic.
#[derive(Debug, Clone, Copy)]
pub struct Provisioning {
    pub users: usize,
    /// SCIM requests in flight at once.
    pub concurrency: usize,
}

/// Imports the lockers, saves the settings and the policy, provisions the
/// users and their group over SCIM, waits for the engine's assignments and
/// returns what the measured phase needs.
pub async fn populate(
    origin: &str,
    credentials: &Credentials,
    layout: &Layout,
    provisioning: Provisioning,
    steps: &mut Vec<Step>,
) -> anyhow::Result<Fixture> {
    let admin = AdminClient::new(origin, &credentials.tenant, &credentials.admin_token)?;

    let started = Instant::now();
    let summary = admin
        .expect_success(Method::POST, "/import", Some(&layout.import_document()))
        .await?;
    if summary["lockers"].as_u64() != Some(layout.lockers() as u64) {
        bail!(
            "the import reported {summary}, expected {} lockers",
            layout.lockers()
        );
    }
    steps.push(Step::new(
        format!("import {} lockers (POST /import)", layout.lockers()),
        started.elapsed(),
        format!(
            "{} banks: {} personal, {} flex, {} shared",
            layout.banks,
            layout.personal_banks(),
            layout.flex_banks,
            layout.shared_banks
        ),
    ));

    let started = Instant::now();
    admin
        .expect_success(
            Method::PUT,
            "/settings",
            Some(&json!({"badge_attribute": "employeeNumber"})),
        )
        .await?;
    admin
        .expect_success(
            Method::PUT,
            &format!("/policies/{POLICY_ID}"),
            Some(&json!({"base_version": null, "policy": layout.policy()})),
        )
        .await?;
    steps.push(Step::new(
        "settings and policy (PUT)",
        started.elapsed(),
        "",
    ));

    let target = Target {
        base_url: format!("{origin}/scim/v2/{}", credentials.tenant),
        token: credentials.scim_token.clone(),
        concurrency: provisioning.concurrency,
    };
    let bindings = Bindings::default();
    let users: Vec<RecordedRequest> = (0..provisioning.users)
        .map(|i| RecordedRequest {
            method: "POST".into(),
            path: "/Users".into(),
            body: Some(user_body(i)),
            expect: 201,
            bind: Some(user_label(i)),
        })
        .collect();
    let report = replay_phase(&target, &bindings, "users", users).await?;
    steps.push(Step::new(
        format!("{} users (SCIM POST /Users)", provisioning.users),
        report.elapsed,
        rate_detail(&report),
    ));

    let group = RecordedRequest {
        method: "POST".into(),
        path: "/Groups".into(),
        body: Some(json!({
            "schemas": [GROUP_URN],
            "externalId": GROUP_EXTERNAL_ID,
            "displayName": "Locker users",
        })),
        expect: 201,
        bind: Some("group".into()),
    };
    replay_phase(&target, &bindings, "group", vec![group]).await?;
    let patches: Vec<RecordedRequest> = (0..provisioning.users)
        .collect::<Vec<_>>()
        .chunks(MEMBERS_PER_PATCH)
        .map(|chunk| {
            let members: Vec<Value> = chunk
                .iter()
                .map(|&i| json!({"value": format!("{{{{{}}}}}", user_label(i))}))
                .collect();
            RecordedRequest {
                method: "PATCH".into(),
                path: "/Groups/{{group}}".into(),
                body: Some(json!({
                    "schemas": [PATCH_URN],
                    "Operations": [{"op": "Add", "path": "members", "value": members}],
                })),
                expect: 204,
                bind: None,
            }
        })
        .collect();
    let report = replay_phase(&target, &bindings, "members", patches).await?;
    steps.push(Step::new(
        format!(
            "group and {} memberships (SCIM PATCH, {MEMBERS_PER_PATCH} members each)",
            provisioning.users
        ),
        report.elapsed,
        rate_detail(&report),
    ));

    let started = Instant::now();
    let rows = assignments(&admin).await?;
    let holders = holders(&rows, &bindings, provisioning.users, &credentials.banks)?;
    let expected = provisioning.users.min(layout.personal_lockers());
    steps.push(Step::new(
        "engine assignments (GET /assignments)",
        started.elapsed(),
        format!(
            "{} personal lockers assigned, {expected} expected",
            holders.len()
        ),
    ));
    if holders.len() != expected {
        bail!(
            "the engine assigned {} personal lockers; with {} users and {} personal lockers {expected} were expected",
            holders.len(),
            provisioning.users,
            layout.personal_lockers()
        );
    }

    Ok(Fixture {
        tenant: credentials.tenant.clone(),
        admin_token: credentials.admin_token.clone(),
        users: provisioning.users,
        lockers: layout.lockers(),
        doors_per_bank: layout.doors_per_bank,
        banks: credentials.banks.clone(),
        holders,
    })
}

/// Replays one phase and fails on the first unexpected status.
async fn replay_phase(
    target: &Target,
    bindings: &Bindings,
    name: &str,
    requests: Vec<RecordedRequest>,
) -> anyhow::Result<PhaseReport> {
    let script = Script {
        phases: vec![Phase {
            name: name.to_string(),
            requests,
        }],
    };
    let report = run(target, &script, bindings)
        .await?
        .pop()
        .context("the replayer returned no phase report")?;
    if let Some(problem) = report.unexpected.first() {
        bail!(
            "{} of {} {name} requests failed; the first: {problem}",
            report.unexpected.len(),
            report.requests
        );
    }
    Ok(report)
}

fn rate_detail(report: &PhaseReport) -> String {
    format!(
        "{} requests, {:.0}/s",
        report.requests,
        report.requests as f64 / report.elapsed.as_secs_f64()
    )
}

/// Reads the open assignments, which the server returns once the engine
/// has applied every identity event. A backlog longer than the server's
/// request timeout gets a 408, so the call is repeated.
async fn assignments(admin: &AdminClient) -> anyhow::Result<Vec<Value>> {
    for _ in 0..ASSIGNMENT_ATTEMPTS {
        let (status, body) = admin.request(Method::GET, "/assignments", None).await?;
        if status == StatusCode::REQUEST_TIMEOUT {
            continue;
        }
        if !status.is_success() {
            bail!("GET /assignments returned {status}: {body}");
        }
        return body
            .as_array()
            .cloned()
            .context("GET /assignments returned no array");
    }
    bail!("GET /assignments timed out {ASSIGNMENT_ATTEMPTS} times; the engine did not catch up")
}

/// Turns the policy's assignments into badge, bank and door.
fn holders(
    rows: &[Value],
    bindings: &Bindings,
    users: usize,
    banks: &[BankAccess],
) -> anyhow::Result<Vec<Holder>> {
    let user_index: HashMap<String, usize> = (0..users)
        .filter_map(|i| bindings.get(&user_label(i)).map(|id| (id, i)))
        .collect();
    let bank_index: HashMap<&str, usize> = banks
        .iter()
        .enumerate()
        .map(|(b, bank)| (bank.id.as_str(), b))
        .collect();
    let mut holders = Vec::new();
    for row in rows.iter().filter(|row| row["policy_id"] == POLICY_ID) {
        let (user, locker) = (row["user_id"].as_str(), row["locker_id"].as_str());
        let (Some(user), Some(locker)) = (user, locker) else {
            bail!("an assignment has no user_id or locker_id: {row}");
        };
        let i = *user_index
            .get(user)
            .with_context(|| format!("assignment {row} names a user this run did not create"))?;
        let (bank, door) = locker
            .rsplit_once('-')
            .and_then(|(bank, door)| Some((*bank_index.get(bank)?, door.parse().ok()?)))
            .with_context(|| format!("locker id {locker:?} is not BANK-DOOR of a known bank"))?;
        holders.push(Holder {
            badge: badge(i),
            bank,
            door,
        });
    }
    Ok(holders)
}
