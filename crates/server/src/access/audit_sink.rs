//! Group commit for decision audit records. Each decision hands its record
//! to one task, which writes whatever has queued up in one transaction; an
//! allowed open waits for that commit before the door is told to open, so
//! no open goes unrecorded, while thousands of decisions share one commit.
//!
//! A denial does not wait, so when its write fails its record is kept and
//! written again later, on its own, with the time of the decision in its
//! detail. A flush at shutdown writes what is queued before the database
//! closes.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use lockgate_domain::timestamp;
use lockgate_store::{AuditDraft, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Records per transaction at most, to bound the latency of one commit.
const MAX_BATCH: usize = 2_000;

/// Denial records kept for another attempt at most, about 10 MB. Past it
/// the oldest are given up, with an error in the log.
const MAX_UNWRITTEN: usize = 20_000;

/// How long kept denial records wait before the next attempt.
const RETRY_EVERY: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<(), String>>;

// Boxing the record would cost an allocation for every decision, and
// almost every job is a record.
#[allow(clippy::large_enum_variant)]
enum Job {
    Record(Record),
    /// Replies once everything queued before it has been written, or has
    /// failed.
    Flush(oneshot::Sender<()>),
}

struct Record {
    tenant_id: String,
    draft: AuditDraft,
    /// For an allowed open, which waits for the commit.
    reply: Option<Reply>,
    decided: SystemTime,
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

    /// Waits until every record queued so far has been written, with one
    /// more attempt for kept denials, so a server can stop without them.
    pub(crate) async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.sender.send(Job::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    fn send(
        &self,
        tenant_id: &str,
        draft: AuditDraft,
        reply: Option<Reply>,
    ) -> Result<(), StoreError> {
        self.sender
            .send(Job::Record(Record {
                tenant_id: tenant_id.to_string(),
                draft,
                reply,
                decided: SystemTime::now(),
            }))
            .map_err(|_| StoreError::Internal("the audit writer stopped".into()))
    }
}

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Job>) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut unwritten = Unwritten::default();
    loop {
        let received = match unwritten.next_attempt {
            None => receiver.recv_many(&mut jobs, MAX_BATCH).await,
            Some(at) => {
                // `recv_many` is cancel safe, so a timeout loses no job.
                let wait = at.saturating_duration_since(Instant::now());
                let receiving = receiver.recv_many(&mut jobs, MAX_BATCH);
                match tokio::time::timeout(wait, receiving).await {
                    Ok(received) => received,
                    Err(_) => {
                        unwritten.retry(&store).await;
                        continue;
                    }
                }
            }
        };
        if received == 0 {
            return;
        }
        let mut records = Vec::with_capacity(jobs.len());
        let mut flushes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Record(record) => records.push(record),
                Job::Flush(done) => flushes.push(done),
            }
        }
        if !records.is_empty() {
            write(&store, records, &mut unwritten).await;
        }
        // Decisions that keep arriving must not put the retry off.
        let due = unwritten
            .next_attempt
            .is_some_and(|at| at <= Instant::now());
        if due || (!flushes.is_empty() && !unwritten.is_empty()) {
            unwritten.retry(&store).await;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes one group of records, replies to the allowed opens among them,
/// and keeps the denials when the write fails.
async fn write(store: &Store, records: Vec<Record>, unwritten: &mut Unwritten) {
    let mut drafts = Vec::with_capacity(records.len());
    let mut waiting = Vec::with_capacity(records.len());
    for record in records {
        drafts.push((record.tenant_id, record.draft));
        waiting.push((record.reply, record.decided));
    }
    // One retry: another process writing the same SQLite file (such as
    // `lockgate import`) makes the cached chain head stale, and the
    // failed attempt drops it, so the second reads the stored head.
    let mut result = store.append_audit_batch_cached(drafts.clone()).await;
    if let Err(error) = &result {
        tracing::warn!(%error, "writing decision audit records failed; retrying once");
        result = store.append_audit_batch(drafts.clone()).await;
    }
    let result = result.map(|_| ()).map_err(|error| {
        tracing::error!(%error, "writing decision audit records failed");
        error.to_string()
    });
    for ((tenant_id, draft), (reply, decided)) in drafts.into_iter().zip(waiting) {
        match (reply, &result) {
            (Some(reply), _) => {
                let _ = reply.send(result.clone());
            }
            (None, Err(_)) => unwritten.keep(tenant_id, draft, decided),
            (None, Ok(())) => {}
        }
    }
}

/// Denial records whose write failed, oldest first.
#[derive(Default)]
struct Unwritten {
    drafts: VecDeque<(String, AuditDraft)>,
    given_up: u64,
    /// When to try the kept records again; `None` while there are none.
    next_attempt: Option<Instant>,
}

impl Unwritten {
    fn is_empty(&self) -> bool {
        self.drafts.is_empty()
    }

    /// Keeps a record for another attempt, with the time of the decision,
    /// since the record's own time will be that of the later write.
    fn keep(&mut self, tenant_id: String, mut draft: AuditDraft, decided: SystemTime) {
        draft.detail["decided_at"] = timestamp::format(decided.into()).into();
        if self.drafts.len() == MAX_UNWRITTEN {
            self.drafts.pop_front();
            self.given_up += 1;
            if self.given_up.is_power_of_two() {
                tracing::error!(
                    given_up = self.given_up,
                    "denied decisions could not be audited for a while; the oldest records \
                     are given up"
                );
            }
        }
        self.drafts.push_back((tenant_id, draft));
        self.next_attempt
            .get_or_insert_with(|| Instant::now() + RETRY_EVERY);
    }

    /// Writes the kept records, oldest first, in transactions of their own,
    /// because a failure of theirs must not fail a commit that an allowed
    /// open waits for. Stops at the first failure and keeps the rest.
    ///
    /// NOTE: a record that can never be written holds back those behind
    /// it until newer failures push it out. This server builds every
    /// record, so none is expected to fail that way.
    async fn retry(&mut self, store: &Store) {
        let mut written = 0;
        while !self.drafts.is_empty() {
            let count = self.drafts.len().min(MAX_BATCH);
            let chunk: Vec<(String, AuditDraft)> = self.drafts.range(..count).cloned().collect();
            if let Err(error) = store.append_audit_batch(chunk).await {
                let remaining = self.drafts.len();
                tracing::warn!(%error, remaining, "auditing denied decisions failed again; retrying later");
                break;
            }
            self.drafts.drain(..count);
            written += count;
        }
        if written > 0 {
            tracing::info!(written, "denied decisions audited after a failed write");
        }
        self.next_attempt = (!self.drafts.is_empty()).then(|| Instant::now() + RETRY_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use lockgate_domain::Slug;
    use lockgate_domain::audit::Actor;
    use lockgate_store::StoreOptions;
    use serde_json::json;

    use super::*;

    fn denial(n: usize) -> AuditDraft {
        AuditDraft {
            actor: Actor::Device(format!("device-{n}")),
            source: Some("device:ward-a:1".into()),
            action: "open_denied".into(),
            subject: "ward-a-1".into(),
            detail: json!({"reason": "not_assigned"}),
        }
    }

    #[tokio::test]
    async fn flush_waits_for_queued_denials() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .unwrap();
        let tenant = store
            .create_tenant(&Slug::parse("depot").unwrap())
            .await
            .unwrap();
        let before = store
            .tenant(&tenant.id)
            .audit_records(0, 10_000)
            .await
            .unwrap()
            .len();

        let sink = AuditSink::start(store.clone());
        for n in 0..50 {
            sink.record(&tenant.id, denial(n));
        }
        sink.flush().await;
        let records = store
            .tenant(&tenant.id)
            .audit_records(0, 10_000)
            .await
            .unwrap();
        assert_eq!(records.len(), before + 50);
        assert!(records[before..].iter().all(|r| r.action == "open_denied"));
    }

    #[test]
    fn kept_records_note_decision_time_and_drop_oldest() {
        let mut unwritten = Unwritten::default();
        let decided = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for n in 0..MAX_UNWRITTEN + 2 {
            unwritten.keep("t".into(), denial(n), decided);
        }
        assert_eq!(unwritten.drafts.len(), MAX_UNWRITTEN);
        assert_eq!(unwritten.given_up, 2);
        let (_, oldest) = unwritten.drafts.front().unwrap();
        assert_eq!(oldest.actor, Actor::Device("device-2".into()));
        assert_eq!(oldest.detail["decided_at"], "2027-01-15T08:00:00.000Z");
        assert_eq!(oldest.detail["reason"], "not_assigned");
    }
}
