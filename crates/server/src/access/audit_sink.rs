//! Group commit for decision audit records. Each decision hands its record
//! to one task, which writes whatever has queued up in one transaction; an
//! allowed open waits for that commit before the door is told to open, so
//! no open goes unrecorded, while thousands of decisions share one commit.

use lockgate_store::{AuditDraft, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Records per transaction at most, to bound the latency of one commit.
const MAX_BATCH: usize = 2_000;

type Reply = oneshot::Sender<Result<(), String>>;

struct Job {
    tenant_id: String,
    draft: AuditDraft,
    reply: Option<Reply>,
}

#[derive(Clone)]
pub(crate) struct AuditSink {
    sender: mpsc::UnboundedSender<Job>,
}

impl AuditSink {
    pub(crate) fn start(store: Store) -> AuditSink {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver));
        AuditSink { sender }
    }

    /// Appends a record and waits until it is committed.
    pub(crate) async fn commit(
        &self,
        tenant_id: &str,
        draft: AuditDraft,
    ) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.send(tenant_id, draft, Some(reply))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Internal(message)),
            Err(_) => Err(StoreError::Internal("the audit writer stopped".into())),
        }
    }

    /// Appends a record without waiting, for denials, which open nothing.
    pub(crate) fn record(&self, tenant_id: &str, draft: AuditDraft) {
        if self.send(tenant_id, draft, None).is_err() {
            tracing::error!("the audit writer stopped; a denied decision was not audited");
        }
    }

    fn send(
        &self,
        tenant_id: &str,
        draft: AuditDraft,
        reply: Option<Reply>,
    ) -> Result<(), StoreError> {
        self.sender
            .send(Job {
                tenant_id: tenant_id.to_string(),
                draft,
                reply,
            })
            .map_err(|_| StoreError::Internal("the audit writer stopped".into()))
    }
}

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::new();
    while receiver.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch = std::mem::take(&mut jobs);
        let mut replies = Vec::with_capacity(batch.len());
        let drafts: Vec<(String, AuditDraft)> = batch
            .into_iter()
            .map(|job| {
                replies.push(job.reply);
                (job.tenant_id, job.draft)
            })
            .collect();
        // One retry: another process writing the same SQLite file (such as
        // `lockgate import`) makes the cached chain head stale, and the
        // failed attempt forgets it, so the second reads the stored head.
        let mut result = store.append_audit_batch_cached(drafts.clone()).await;
        if let Err(error) = &result {
            tracing::warn!(%error, "writing decision audit records failed; retrying once");
            result = store.append_audit_batch(drafts).await;
        }
        let result = result.map(|_| ()).map_err(|error| {
            tracing::error!(%error, "writing decision audit records failed");
            error.to_string()
        });
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(result.clone());
        }
    }
}
