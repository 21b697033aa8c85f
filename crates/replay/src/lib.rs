//! Recorded SCIM traffic shaped like Microsoft Entra ID's provisioning
//! service, and a replayer that sends it over HTTP.
//!
//! A [`Script`] is a list of phases. Requests inside a phase are independent
//! and may run concurrently, as Entra's own workers do; phases run in order.
//! A request that creates a resource binds the returned `id` to a label, and
//! later requests refer to it as `{{label}}` in their path or body, since
//! ids are assigned by the server at replay time.

pub mod decisions;
pub mod generate;
pub mod replay;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded request, relative to the tenant's SCIM base URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query below the SCIM base URL, such as `/Users?filter=...`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The status the request should get; a different one counts as an error.
    pub expect: u16,
    /// Label to bind the `id` of the created resource to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub requests: Vec<RecordedRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    pub phases: Vec<Phase>,
}

impl Script {
    /// Writes the script as JSON lines: one phase per line.
    pub fn to_json_lines(&self) -> String {
        self.phases
            .iter()
            .map(|p| serde_json::to_string(p).expect("phases serialize"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Reads a script written by [`Script::to_json_lines`].
    pub fn from_json_lines(text: &str) -> anyhow::Result<Script> {
        let phases = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| anyhow::anyhow!("line {}: not a recorded phase: {e}", i + 1))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Script { phases })
    }

    pub fn request_count(&self) -> usize {
        self.phases.iter().map(|p| p.requests.len()).sum()
    }
}
