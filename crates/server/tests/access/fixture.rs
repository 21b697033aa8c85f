//! A small hospital for the end-to-end tests: one ward bank of personal
//! lockers, one bank of flex lockers and a shared team locker, the
//! `nurses` group and a policy that gives each nurse a personal locker.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ENTERPRISE_URN, GROUP_URN, PATCH_URN, USER_URN};
use crate::support::AccessApp;

pub const NURSES_EXTERNAL_ID: &str = "0b1c6a2e-nurses";
pub const CLINICAL_EXTERNAL_ID: &str = "7f3d9c41-clinical";

pub struct Hospital {
    pub access: AccessApp,
    pub device: String,
    pub nurses: String,
}

impl Hospital {
    pub async fn open() -> Hospital {
        Self::with_grace(7).await
    }

    pub async fn with_grace(grace_days: u32) -> Hospital {
        Self::on(AccessApp::spawn().await, grace_days).await
    }

    /// Starts the hospital on PostgreSQL, or `None` when no server is configured.
    pub async fn on_postgres() -> Option<Hospital> {
        let app = crate::common::TestApp::spawn_postgres().await?;
        Some(Self::on(AccessApp::with(app).await, 7).await)
    }

    pub async fn on(access: AccessApp, grace_days: u32) -> Hospital {
        build_site(&access).await;
        let (status, body) = access
            .admin(
                Method::PUT,
                "/settings",
                Some(json!({"badge_attribute": "employeeNumber"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let nurses = create_group(&access, "Nurses", NURSES_EXTERNAL_ID).await;
        save_policy(
            &access,
            "ward-lockers",
            json!({
                "name": "A personal locker on the ward",
                "who": {"groups": [NURSES_EXTERNAL_ID]},
                "what": {"banks": ["ward-a"], "kinds": ["personal"]},
                "how": {"mode": "fixed", "auto_assign": true},
                "lifecycle": {"mover_grace_days": grace_days, "leaver_action": "clear_out"}
            }),
        )
        .await;
        let device = access.device_token("ward-a").await;
        Hospital {
            access,
            device,
            nurses,
        }
    }

    /// Creates a user with a badge number and adds them to `group`.
    pub async fn nurse(&self, user_name: &str, badge: &str) -> String {
        let id = create_user(&self.access, user_name, badge).await;
        add_member(&self.access, &self.nurses, &id).await;
        id
    }

    /// Returns the open assignments of `user`, after the engine has settled.
    pub async fn lockers_of(&self, user: &str) -> Vec<Value> {
        let (status, body) = self.access.admin(Method::GET, "/assignments", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .filter(|row| row["user_id"] == user)
            .cloned()
            .collect()
    }

    /// Returns the door label of the only locker `user` holds.
    pub async fn door_of(&self, user: &str) -> String {
        let lockers = self.lockers_of(user).await;
        assert_eq!(lockers.len(), 1, "{lockers:?}");
        let locker = lockers[0]["locker_id"].as_str().unwrap();
        locker.rsplit('-').next().unwrap().to_string()
    }

    /// Asks the ward bank's controller for a decision.
    pub async fn tap(&self, badge: &str, door: &str) -> Value {
        let (status, body) = self
            .access
            .call(
                Method::POST,
                "/device/v1/decisions",
                &self.device,
                Some(json!({"bank": "ward-a", "door": door, "credential": {"type": "badge", "id": badge}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn locker_state(&self, locker: &str) -> String {
        let (status, body) = self
            .access
            .admin(Method::GET, &format!("/lockers/{locker}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["state"].as_str().unwrap().to_string()
    }

    pub async fn outbox(&self) -> Vec<Value> {
        let (status, body) = self.access.admin(Method::GET, "/outbox", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().unwrap().clone()
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let (status, body) = self
            .access
            .admin(Method::GET, "/audit?limit=1000", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn build_site(access: &AccessApp) {
    let posts = [
        ("/sites", json!({"id": "main", "name": "Main hospital"})),
        (
            "/zones",
            json!({"id": "ward-3", "site": "main", "name": "Ward 3"}),
        ),
        (
            "/banks",
            json!({"id": "ward-a", "zone": "ward-3", "name": "Ward 3 bank A"}),
        ),
        (
            "/banks",
            json!({"id": "flex-b", "zone": "ward-3", "name": "Ward 3 flex bank"}),
        ),
    ];
    for (path, body) in posts {
        let (status, reply) = access.admin(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {reply}");
    }
    for door in 1..=4 {
        create_locker(
            access,
            &format!("ward-a-{door}"),
            "ward-a",
            &door.to_string(),
            "personal",
        )
        .await;
    }
    create_locker(access, "ward-a-9", "ward-a", "9", "shared").await;
}

pub async fn create_locker(access: &AccessApp, id: &str, bank: &str, door: &str, kind: &str) {
    let body = json!({"id": id, "bank": bank, "door": door, "kind": kind, "size": "medium"});
    let (status, reply) = access.admin(Method::POST, "/lockers", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
}

pub async fn save_policy(access: &AccessApp, id: &str, policy: Value) -> Value {
    let (_, current) = access
        .admin(Method::GET, &format!("/policies/{id}"), None)
        .await;
    let base = current
        .as_array()
        .and_then(|versions| versions.last())
        .map(|v| v["version"].clone());
    let (status, body) = access
        .admin(
            Method::PUT,
            &format!("/policies/{id}"),
            Some(json!({"base_version": base, "policy": policy})),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    body
}

pub async fn create_user(access: &AccessApp, user_name: &str, badge: &str) -> String {
    let (status, body) = access
        .app
        .post(
            "/Users",
            json!({
                "schemas": [USER_URN, ENTERPRISE_URN],
                "userName": user_name,
                "externalId": format!("oid-{user_name}"),
                "active": true,
                ENTERPRISE_URN: {"employeeNumber": badge, "department": "Cardiology"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

pub async fn create_group(access: &AccessApp, name: &str, external_id: &str) -> String {
    let (status, body) = access
        .app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_URN], "displayName": name, "externalId": external_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Adds a member the way Entra does: a PATCH with a `members` add.
pub async fn add_member(access: &AccessApp, group: &str, member: &str) {
    add_members(access, group, &[member.to_string()]).await;
}

/// Adds many members, 200 per PATCH.
pub async fn add_members(access: &AccessApp, group: &str, members: &[String]) {
    for chunk in members.chunks(200) {
        let values: Vec<Value> = chunk.iter().map(|id| json!({"value": id})).collect();
        let (status, body) = access
            .app
            .patch(
                &format!("/Groups/{group}"),
                json!({"schemas": [PATCH_URN], "Operations": [
                    {"op": "Add", "path": "members", "value": values}
                ]}),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
}

pub async fn remove_member(access: &AccessApp, group: &str, member: &str) {
    let (status, body) = access
        .app
        .patch(
            &format!("/Groups/{group}"),
            json!({"schemas": [PATCH_URN], "Operations": [
                {"op": "Remove", "path": format!("members[value eq \"{member}\"]")}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}
