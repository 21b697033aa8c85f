//! Records every SCIM request in the provisioning log: tenant, operation,
//! resource, outcome, error and duration. Entries go through a channel to
//! one writer task that inserts them in batches, so logging adds no database
//! round trip to a SCIM request.

use std::time::{Duration, Instant};

use axum::extract::{OriginalUri, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use lockgate_domain::timestamp;
use lockgate_scim::ScimError;
use lockgate_store::{LogEntry, Store};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::scim::response::LoggedResource;
use crate::{AppState, REQUEST_ID};

const BATCH: usize = 500;
const CHANNEL_CAPACITY: usize = 10_000;
const COLLECT_FOR: Duration = Duration::from_millis(50);

/// The sending side, held by the app state.
#[derive(Clone)]
pub(crate) struct Sink(mpsc::Sender<LogEntry>);

/// The writer task.
pub(crate) struct Writer(JoinHandle<()>);

impl Writer {
    /// Waits until every entry sent so far is written. Call after every
    /// [`Sink`] is dropped, or it waits forever.
    pub async fn finish(self) {
        if let Err(e) = self.0.await {
            tracing::error!(error = %e, "provisioning log writer failed");
        }
    }
}

pub(crate) fn channel(store: Store) -> (Sink, Writer) {
    let (tx, mut rx) = mpsc::channel::<LogEntry>(CHANNEL_CAPACITY);
    let handle = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            // Entries trickle in one per request; waiting briefly collects
            // them into fewer transactions on the shared writer connection.
            if batch.len() < BATCH {
                tokio::time::sleep(COLLECT_FOR).await;
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(entry) => batch.push(entry),
                        Err(_) => break,
                    }
                }
            }
            if let Err(e) = store.append_provisioning_log(&batch).await {
                tracing::error!(error = %e, entries = batch.len(), "writing the provisioning log failed");
            }
            batch.clear();
        }
    });
    (Sink(tx), Writer(handle))
}

/// Deletes entries past the retention period once an hour.
pub(crate) fn spawn_pruning(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match state
                .store
                .prune_provisioning_log(state.config.provisioning_log_retention)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned the provisioning log"),
                Err(e) => tracing::error!(error = %e, "pruning the provisioning log failed"),
            }
            let cutoff = timestamp::now();
            if let Err(e) = state.store.delete_expired_access_tokens(&cutoff).await {
                tracing::error!(error = %e, "deleting expired access tokens failed");
            }
        }
    })
}

/// Middleware on the SCIM router.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| request.uri().clone());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let response = next.run(request).await;

    let mut segments = uri.path().trim_start_matches('/').split('/').skip(2);
    let slug = segments.next().unwrap_or_default();
    let endpoint = segments.next().unwrap_or_default().to_string();
    let path_id = segments.next().map(str::to_string);
    let tenant = match state.tenant(slug).await {
        Ok(Some(tenant)) => tenant,
        _ => return response,
    };
    let error = response.extensions().get::<ScimError>();
    let logged = response.extensions().get::<LoggedResource>();
    let has_filter = uri
        .query()
        .is_some_and(|q| q.to_ascii_lowercase().contains("filter="));
    let status = response.status();
    let entry = LogEntry {
        seq: 0,
        tenant_id: tenant.id,
        request_id,
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        operation: operation(&method, &endpoint, path_id.is_some(), has_filter).to_string(),
        resource_type: logged
            .map(|l| l.kind.as_str().to_string())
            .or_else(|| resource_type(&endpoint)),
        resource_id: logged.and_then(|l| l.id.clone()).or(path_id),
        status: i64::from(status.as_u16()),
        outcome: if status.is_success() {
            "success"
        } else {
            "failure"
        }
        .to_string(),
        scim_type: error
            .and_then(|e| e.scim_type)
            .map(|t| t.as_str().to_string()),
        error: error.map(|e| e.detail.clone()),
        duration_us: started.elapsed().as_micros().min(i64::MAX as u128) as i64,
        at: timestamp::now(),
    };
    if state.log.0.send(entry).await.is_err() {
        tracing::warn!("provisioning log writer has stopped; entry dropped");
    }
    response
}

fn operation(method: &Method, endpoint: &str, has_id: bool, has_filter: bool) -> &'static str {
    if !matches!(endpoint, "Users" | "Groups") {
        return "discovery";
    }
    match (method.as_str(), has_id) {
        ("GET", false) if has_filter => "query",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "replace",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "other",
    }
}

fn resource_type(endpoint: &str) -> Option<String> {
    match endpoint {
        "Users" => Some("User".into()),
        "Groups" => Some("Group".into()),
        _ => None,
    }
}
