//! Helpers for the access tests: admin and device tokens, and JSON requests
//! to the admin, device and app APIs.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestApp;

/// A test server with an admin token for its first tenant.
pub struct AccessApp {
    pub app: TestApp,
    pub admin_token: String,
}

impl AccessApp {
    pub async fn spawn() -> AccessApp {
        Self::with(TestApp::spawn().await).await
    }

    pub async fn with(app: TestApp) -> AccessApp {
        let (_, token) = app.store.create_admin_token(&app.tenant.id).await.unwrap();
        AccessApp {
            admin_token: token.expose().to_string(),
            app,
        }
    }

    /// Returns the admin API base URL of the first tenant.
    pub fn admin_base(&self) -> String {
        format!("{}/admin/v1/tenants/st-marys", self.app.origin)
    }

    /// Sends an admin request to `path` under the first tenant.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.admin_base());
        send_json(&self.app.client, method, &url, &self.admin_token, body).await
    }

    /// Creates a device token for `bank` and returns it.
    pub async fn device_token(&self, bank: &str) -> String {
        let (_, token) = self
            .app
            .store
            .create_device_token(&self.app.tenant.id, bank)
            .await
            .unwrap();
        token.expose().to_string()
    }

    /// Sends a request to any path of the server with `token`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.app.origin);
        send_json(&self.app.client, method, &url, token, body).await
    }
}

/// Sends a JSON request and returns the status and the JSON body (or
/// `Value::Null` for an empty body).
pub async fn send_json(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}
