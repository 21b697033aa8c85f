//! The HTTP calls the demo makes to its own server: the admin API, SCIM
//! reads, device decisions and the app API, each with its own token.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

/// A client for one tenant of the demo server.
pub(super) struct Api {
    client: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    pub slug: String,
    pub admin_token: String,
    pub scim_token: String,
}

impl Api {
    pub fn new(
        origin: String,
        slug: String,
        admin_token: String,
        scim_token: String,
    ) -> Result<Api> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Api {
            client,
            origin,
            slug,
            admin_token,
            scim_token,
        })
    }

    pub fn scim_base(&self) -> String {
        format!("{}/scim/v2/{}", self.origin, self.slug)
    }

    pub fn admin_base(&self) -> String {
        format!("{}/admin/v1/tenants/{}", self.origin, self.slug)
    }

    /// Sends a request and returns the JSON body (`Value::Null` when it is
    /// empty), or an error with the status and body when the status is not
    /// a success.
    async fn send(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self.client.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url} failed"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{method} {url}: reading the response failed"))?;
        if !status.is_success() {
            bail!("{method} {url} returned {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {url} returned invalid JSON: {text}"))
    }

    /// Sends an admin API request to `path` below the tenant's admin base.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.admin_base());
        self.send(method, &url, &self.admin_token, body.as_ref())
            .await
    }

    pub async fn admin_get(&self, path: &str) -> Result<Value> {
        self.admin(Method::GET, path, None).await
    }

    /// Sends a SCIM GET to `path` below the tenant's SCIM base URL.
    pub async fn scim_get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.scim_base());
        self.send(Method::GET, &url, &self.scim_token, None).await
    }

    /// Asks for an open decision as the controller of `bank` would.
    pub async fn decide(
        &self,
        device_token: &str,
        bank: &str,
        door: &str,
        credential: Value,
    ) -> Result<Value> {
        let url = format!("{}/device/v1/decisions", self.origin);
        let body = json!({"bank": bank, "door": door, "credential": credential});
        self.send(Method::POST, &url, device_token, Some(&body))
            .await
    }

    /// Sends a request to the app API, authenticated with a user's `app_token`.
    pub async fn app(
        &self,
        app_token: &str,
        method: Method,
        path: &str,
        body: Value,
    ) -> Result<Value> {
        let url = format!("{}/app/v1/{}{path}", self.origin, self.slug);
        self.send(method, &url, app_token, Some(&body)).await
    }
}

/// An open assignment or booking, as `GET /assignments` returns it.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Assignment {
    pub locker_id: String,
    pub user_id: String,
    pub policy_id: String,
    /// The end of a booking; unset for a fixed or shared assignment.
    pub ends_at: Option<String>,
    /// The end of a mover's grace period.
    pub grace_until: Option<String>,
}

/// A locker, as `GET /lockers` returns it.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Locker {
    pub id: String,
    pub bank: String,
    pub door: String,
    pub kind: String,
    pub state: String,
}

impl Api {
    /// Returns the open assignments once the lifecycle engine has applied
    /// every committed SCIM change, which the route waits for.
    pub async fn assignments(&self) -> Result<Vec<Assignment>> {
        let rows = self.admin_get("/assignments").await?;
        serde_json::from_value(rows)
            .context("GET /assignments returned rows of an unexpected shape")
    }

    /// Returns the lockers that match `query`, such as `?state=clear_out`.
    pub async fn lockers(&self, query: &str) -> Result<Vec<Locker>> {
        let rows = self.admin_get(&format!("/lockers{query}")).await?;
        serde_json::from_value(rows).context("GET /lockers returned rows of an unexpected shape")
    }
}
