//! A client for the tenant's admin API, with the audit calls the benchmark
//! uses to check that every allowed open was recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Records per page of `GET /audit`; the server's maximum.
const AUDIT_PAGE_SIZE: usize = 1_000;

/// Admin API calls for one tenant.
#[derive(Debug, Clone)]
pub struct AdminClient {
    client: reqwest::Client,
    /// `{origin}/admin/v1/tenants/{tenant}`.
    base: String,
    token: String,
}

/// The result of `GET /audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    pub intact: bool,
    /// Records that passed the check; the sequence number of the last one.
    pub records: u64,
    pub error: Option<String>,
}

impl AdminClient {
    pub fn new(origin: &str, tenant: &str, token: &str) -> anyhow::Result<AdminClient> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(AdminClient {
            client,
            base: format!("{origin}/admin/v1/tenants/{tenant}"),
            token: token.to_string(),
        })
    }

    /// Sends a request below the tenant's admin base and returns the status
    /// and the JSON body (`null` for an empty body).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut builder = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .await
            .with_context(|| format!("{method} {url} failed"))?;
        let status = response.status();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{method} {url} returned {status} with no JSON: {text}"))?
        };
        Ok((status, value))
    }

    /// Sends a request and fails unless the status is a success.
    pub async fn expect_success(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.request(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {}{path} returned {status}: {value}", self.base);
        }
        Ok(value)
    }

    /// Checks the audit chain with `GET /audit/verify`, one part after
    /// another until a part reaches the end of the chain or finds an error.
    /// Returns `None` when the server's request timeout ended a part.
    pub async fn verify_chain(&self) -> anyhow::Result<Option<ChainCheck>> {
        let mut path = "/audit/verify".to_string();
        loop {
            let (status, body) = self.request(Method::GET, &path, None).await?;
            if status == StatusCode::REQUEST_TIMEOUT {
                return Ok(None);
            }
            if !status.is_success() {
                bail!("GET {}{path} returned {status}: {body}", self.base);
            }
            let intact = body["intact"].as_bool().unwrap_or(false);
            let last_seq = body["last_seq"]
                .as_u64()
                .context("the audit check returned no last_seq")?;
            if !intact || body["complete"] == true {
                return Ok(Some(ChainCheck {
                    intact,
                    records: last_seq,
                    error: body["error"].as_str().map(str::to_string),
                }));
            }
            let next = body["next"]
                .as_str()
                .context("an unfinished audit check returned no next part")?;
            path = format!("/audit/verify?{next}");
        }
    }

    /// Counts the audit records with a sequence number above `after_seq`
    /// by action, reading `GET /audit` page by page until a page is empty.
    /// Returns the counts and the sequence number of the last record.
    pub async fn count_actions_after(
        &self,
        after_seq: u64,
    ) -> anyhow::Result<(BTreeMap<String, u64>, u64)> {
        let mut counts = BTreeMap::new();
        let mut last = after_seq;
        loop {
            let path = format!("/audit?after={last}&limit={AUDIT_PAGE_SIZE}");
            let page = self.expect_success(Method::GET, &path, None).await?;
            let records = page
                .as_array()
                .with_context(|| format!("GET {path} returned no array"))?;
            for record in records {
                let action = record["action"].as_str().unwrap_or("(none)");
                *counts.entry(action.to_string()).or_insert(0) += 1;
                let seq = record["seq"]
                    .as_u64()
                    .with_context(|| format!("an audit record has no seq: {record}"))?;
                last = last.max(seq);
            }
            if records.len() < AUDIT_PAGE_SIZE {
                return Ok((counts, last));
            }
        }
    }
}
