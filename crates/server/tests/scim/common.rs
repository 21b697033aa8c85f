//! The test harness: a real Lockgate server on 127.0.0.1 port 0 with its own
//! database (an SQLite file in a temporary directory, or a fresh PostgreSQL
//! database when `LOCKGATE_TEST_POSTGRES_URL` is set), driven over HTTP.

use std::time::Duration;

use lockgate_domain::Slug;
use lockgate_server::{App, ServerConfig};
use lockgate_store::{Store, StoreOptions, Tenant};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    /// The first tenant's SCIM base URL.
    pub scim: String,
    pub token: String,
    pub tenant: Tenant,
    pub store: Store,
    pub client: reqwest::Client,
    /// Seconds the server's access clock runs ahead of the wall clock;
    /// the access tests move it, the SCIM tests do not.
    #[allow(dead_code)]
    pub clock: std::sync::Arc<std::sync::atomic::AtomicI64>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// The directory of the SQLite database, for tests that open it from a
    /// second process-like store; `None` on PostgreSQL.
    #[allow(dead_code)]
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|dir| dir.path())
    }
}

/// Creates an empty PostgreSQL database and returns its URL, or `None`
/// when no server is configured. The test command always configures one.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("LOCKGATE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "LOCKGATE_TEST_POSTGRES_URL must be set in CI; scripts/test starts PostgreSQL"
        );
        eprintln!("skipped: LOCKGATE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let name = format!("lockgate_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::admin_execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
    admin.expect("create the test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("database URL with a path");
    Some(format!("{base}/{name}"))
}

impl TestApp {
    /// Starts a server on a fresh SQLite file.
    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .expect("open SQLite");
        Self::start(store, Some(dir)).await
    }

    /// Starts a server on a fresh PostgreSQL database, or returns `None` when no server is
    /// configured. The test command always configures one.
    pub async fn spawn_postgres() -> Option<TestApp> {
        let url = postgres_database().await?;
        let store = Store::connect(&StoreOptions::new(url))
            .await
            .expect("open PostgreSQL");
        Some(Self::start(store, None).await)
    }

    async fn start(store: Store, dir: Option<tempfile::TempDir>) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig {
            public_url: Some(origin.clone()),
            // Short, so a test that moves the clock sees lapsed sign-ins soon.
            lapse_check_interval: Duration::from_millis(200),
            ..ServerConfig::default()
        };
        let clock = config.clock_offset.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let app = App::new(store.clone(), config);
        let server = tokio::spawn(app.serve(listener, async {
            let _ = rx.await;
        }));
        let tenant = store
            .create_tenant(&Slug::parse("st-marys").unwrap())
            .await
            .unwrap();
        let (_, token) = store.create_scim_token(&tenant.id).await.unwrap();
        TestApp {
            scim: format!("{origin}/scim/v2/st-marys"),
            origin,
            token: token.expose().to_string(),
            tenant,
            store,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            clock,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }

    /// Creates another tenant; returns its SCIM base URL and token.
    pub async fn add_tenant(&self, slug: &str) -> (String, String, Tenant) {
        let tenant = self
            .store
            .create_tenant(&Slug::parse(slug).unwrap())
            .await
            .unwrap();
        let (_, token) = self.store.create_scim_token(&tenant.id).await.unwrap();
        (
            format!("{}/scim/v2/{slug}", self.origin),
            token.expose().to_string(),
            tenant,
        )
    }

    /// Sends a SCIM request to `path` under the first tenant's base URL.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send_with(
            &self.client,
            method,
            &format!("{}{path}", self.scim),
            &self.token,
            body,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let (status, body) = self
            .post(
                "/Users",
                serde_json::json!({"schemas": [USER_URN], "userName": user_name, "active": true}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Creates a group and returns its id.
    pub async fn create_group(&self, display_name: &str) -> String {
        let (status, body) = self
            .post(
                "/Groups",
                serde_json::json!({"schemas": [GROUP_URN], "displayName": display_name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Member ids of a group, read back over SCIM.
    pub async fn member_ids(&self, group_id: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/Groups/{group_id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut ids: Vec<String> = body["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|m| m["value"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Identity events of the first tenant, oldest first.
    pub async fn events(&self) -> Vec<lockgate_domain::IdentityEvent> {
        self.store
            .tenant(&self.tenant.id)
            .events_after(0, 100_000)
            .await
            .unwrap()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

pub async fn send_with(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// Wraps operations in a PatchOp body.
pub fn patch_op(operations: Value) -> Value {
    serde_json::json!({"schemas": [PATCH_URN], "Operations": operations})
}
