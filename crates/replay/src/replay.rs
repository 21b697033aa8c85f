//! Sends a [`Script`] to a SCIM server and measures it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

use crate::{RecordedRequest, Script};

/// The server and credentials a script is sent to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The tenant's SCIM base URL.
    pub base_url: String,
    pub token: String,
    /// Requests in flight at once within a phase.
    pub concurrency: usize,
}

/// The outcome of one phase.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    pub name: String,
    pub requests: usize,
    pub writes: usize,
    /// Requests whose status differed from the recorded one.
    pub unexpected: Vec<String>,
    pub elapsed: Duration,
    /// Latency of each request, sorted.
    pub latencies: Vec<Duration>,
    pub write_latencies: Vec<Duration>,
}

impl PhaseReport {
    pub fn percentile(latencies: &[Duration], p: f64) -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    }
}

/// Labels bound to server-assigned ids during a replay.
#[derive(Default, Clone)]
pub struct Bindings(Arc<RwLock<HashMap<String, String>>>);

impl Bindings {
    pub fn get(&self, label: &str) -> Option<String> {
        self.0.read().expect("bindings lock").get(label).cloned()
    }

    fn set(&self, label: &str, id: String) {
        self.0
            .write()
            .expect("bindings lock")
            .insert(label.to_string(), id);
    }

    /// Replaces every `{{label}}` in `text` with its bound id.
    fn resolve(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed {{{{ in {text:?}"))?;
            let label = &after[..end];
            let id = self
                .get(label)
                .ok_or_else(|| format!("label {label:?} was never bound"))?;
            out.push_str(&id);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Replays every phase in order and returns a report per phase.
pub async fn run(
    target: &Target,
    script: &Script,
    bindings: &Bindings,
) -> anyhow::Result<Vec<PhaseReport>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(target.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut reports = Vec::new();
    for phase in &script.phases {
        let started = Instant::now();
        // Each request runs as its own task, so the client's work spreads
        // over the runtime's threads instead of one.
        let results: Vec<(bool, Duration, Option<String>)> =
            futures::stream::iter(phase.requests.iter().cloned())
                .map(|request| {
                    let (client, target, bindings) =
                        (client.clone(), target.clone(), bindings.clone());
                    tokio::spawn(async move { send(&client, &target, &bindings, &request).await })
                })
                .buffer_unordered(target.concurrency.max(1))
                .map(|joined| {
                    joined.unwrap_or_else(|e| {
                        (
                            false,
                            Duration::ZERO,
                            Some(format!("request task failed: {e}")),
                        )
                    })
                })
                .collect()
                .await;
        let mut report = PhaseReport {
            name: phase.name.clone(),
            requests: results.len(),
            writes: 0,
            unexpected: Vec::new(),
            elapsed: started.elapsed(),
            latencies: Vec::with_capacity(results.len()),
            write_latencies: Vec::new(),
        };
        for (is_write, latency, problem) in results {
            report.latencies.push(latency);
            if is_write {
                report.writes += 1;
                report.write_latencies.push(latency);
            }
            if let Some(problem) = problem {
                report.unexpected.push(problem);
            }
        }
        report.latencies.sort();
        report.write_latencies.sort();
        reports.push(report);
    }
    Ok(reports)
}

async fn send(
    client: &reqwest::Client,
    target: &Target,
    bindings: &Bindings,
    request: &RecordedRequest,
) -> (bool, Duration, Option<String>) {
    let is_write = request.method != "GET";
    let prepared = prepare(target, bindings, request);
    let (method, url, body) = match prepared {
        Ok(p) => p,
        Err(problem) => return (is_write, Duration::ZERO, Some(problem)),
    };
    let mut builder = client.request(method, &url).bearer_auth(&target.token);
    if let Some(body) = body {
        builder = builder
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(body);
    }
    let started = Instant::now();
    let response = builder.send().await;
    let (status, text) = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
        Err(e) => {
            return (
                is_write,
                started.elapsed(),
                Some(format!("{} {url}: {e}", request.method)),
            );
        }
    };
    let latency = started.elapsed();
    if status != request.expect {
        let problem = format!(
            "{} {url}: expected {}, got {status}: {text}",
            request.method, request.expect
        );
        return (is_write, latency, Some(problem));
    }
    if let Some(label) = &request.bind {
        match serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
        {
            Some(id) => bindings.set(label, id),
            None => {
                return (
                    is_write,
                    latency,
                    Some(format!("{url}: response has no id to bind")),
                );
            }
        }
    }
    (is_write, latency, None)
}

fn prepare(
    target: &Target,
    bindings: &Bindings,
    request: &RecordedRequest,
) -> Result<(Method, String, Option<String>), String> {
    let method = Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let url = format!(
        "{}{}",
        target.base_url.trim_end_matches('/'),
        bindings.resolve(&request.path)?
    );
    let body = request
        .body
        .as_ref()
        .map(|b| bindings.resolve(&b.to_string()))
        .transpose()?;
    Ok((method, url, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_in_paths() {
        let bindings = Bindings::default();
        bindings.set("u1", "abc".into());
        assert_eq!(bindings.resolve("/Users/{{u1}}").unwrap(), "/Users/abc");
        assert!(bindings.resolve("/Users/{{u2}}").is_err());
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let latencies: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(
            PhaseReport::percentile(&latencies, 99.0),
            Duration::from_millis(99)
        );
        assert_eq!(
            PhaseReport::percentile(&latencies, 50.0),
            Duration::from_millis(50)
        );
    }
}
