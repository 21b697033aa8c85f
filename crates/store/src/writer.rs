//! The SQLite write thread.
//!
//! SQLite allows one writer at a time. When write transactions ran on the
//! shared async runtime, each statement's continuation queued behind HTTP
//! work, and the writer sat idle while requests waited for it. Write
//! transactions now run one after another on a thread of their own, which
//! owns the write connection (see `lite`) and calls SQLite directly.
//!
//! Jobs queued while one runs join its group and share its commit, up to
//! [`MAX_GROUP`] jobs. Each caller gets its result once the group has
//! committed. A few jobs run alone, outside any group: a checkpoint, which
//! SQLite refuses inside a transaction, and a turn for writes through
//! sqlx's writer pool, which would wait on the group's lock.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::audit::HeadCache;
use crate::lite;

/// Jobs per group at most, which bounds how long the first job of a
/// group waits for its commit.
const MAX_GROUP: usize = 32;

/// Hands a job's result to its caller, given the outcome of the group's
/// commit (an error message when the group failed).
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

type Work = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Deliver> + Send>> + Send>;

enum Job {
    Grouped(Work),
    Alone(Work),
}

#[derive(Clone)]
pub(crate) struct WriteThread {
    jobs: mpsc::UnboundedSender<Job>,
}

impl WriteThread {
    /// Starts the thread and opens its connection to the database at
    /// `path` with `pragmas`. `heads` is forgotten when a group fails.
    pub fn start(
        path: String,
        pragmas: String,
        heads: HeadCache,
    ) -> Result<WriteThread, StoreError> {
        let (jobs, queue) = mpsc::unbounded_channel::<Job>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Config(format!("cannot start the SQLite write thread: {e}"))
            })?;
        let (opened, open_result) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("lockgate-sqlite-writer".into())
            .spawn(move || {
                let result = lite::open(&path, &pragmas);
                let failed = result.is_err();
                let _ = opened.send(result);
                if failed {
                    return;
                }
                runtime.block_on(serve(queue, heads));
                lite::close();
            })
            .map_err(|e| {
                StoreError::Config(format!("cannot start the SQLite write thread: {e}"))
            })?;
        open_result
            .recv()
            .map_err(|_| StoreError::Config("the SQLite write thread did not start".into()))?
            .map_err(StoreError::Config)?;
        Ok(WriteThread { jobs })
    }

    /// Queues `job` as `kind` and returns its result once it has run, and
    /// for a grouped job once its group has committed.
    async fn submit<T, F, Fut>(&self, job: F, kind: fn(Work) -> Job) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let work: Work = Box::new(move || {
            Box::pin(async move {
                let outcome = job().await;
                let deliver: Deliver = Box::new(move |group_failure| {
                    let outcome = match (outcome, group_failure) {
                        (Ok(_), Some(message)) => Err(StoreError::Internal(message.to_string())),
                        (outcome, _) => outcome,
                    };
                    let _ = reply.send(outcome);
                });
                deliver
            })
        });
        self.jobs
            .send(kind(work))
            .map_err(|_| StoreError::Config("the SQLite write thread has stopped".into()))?;
        result.await.map_err(|_| {
            StoreError::Internal("the write transaction panicked; see the server log".into())
        })?
    }
}

async fn serve(mut queue: mpsc::UnboundedReceiver<Job>, heads: HeadCache) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let work = match job {
            Job::Alone(work) => {
                if let Some(deliver) = perform(work).await {
                    deliver(None);
                }
                continue;
            }
            Job::Grouped(work) => work,
        };
        lite::start_group();
        let mut delivers = Vec::new();
        delivers.extend(perform(work).await);
        for _ in 1..MAX_GROUP {
            match queue.try_recv() {
                Ok(Job::Grouped(work)) => delivers.extend(perform(work).await),
                Ok(alone) => {
                    next = Some(alone);
                    break;
                }
                Err(_) => break,
            }
        }
        let failure = lite::finish_group().err();
        if let Some(message) = &failure {
            tracing::error!(error = %message, "a group of SQLite writes was not stored");
            heads.clear();
        }
        for deliver in delivers {
            deliver(failure.as_deref());
        }
    }
}

/// Runs one job as a task, so a panic in it fails that write alone
/// instead of ending the thread, and with it every later write. A
/// panicked job's transaction is rolled back when its future is dropped.
async fn perform(work: Work) -> Option<Deliver> {
    match tokio::spawn(work()).await {
        Ok(deliver) => Some(deliver),
        Err(e) => {
            tracing::error!(error = %e, "a write transaction panicked");
            None
        }
    }
}

/// The write thread held idle while its holder writes through sqlx's
/// writer pool. Dropping it lets the thread go on.
pub(crate) struct WriteTurn {
    _done: oneshot::Sender<()>,
}

impl WriteThread {
    /// Waits until the write thread has committed what came before, then
    /// keeps it idle until the returned turn is dropped.
    async fn turn(&self) -> Result<WriteTurn, StoreError> {
        let (started, start) = oneshot::channel::<()>();
        let (done, finished) = oneshot::channel::<()>();
        let thread = self.clone();
        let wait = async move {
            let hold = move || async move {
                let _ = started.send(());
                // Ends when the turn is dropped, which closes the channel.
                let _ = finished.await;
                Ok(())
            };
            thread.submit(hold, Job::Alone).await
        };
        tokio::spawn(async move {
            if let Err(e) = wait.await {
                tracing::error!(error = %e, "a write turn failed");
            }
        });
        start
            .await
            .map_err(|_| StoreError::Config("the SQLite write thread has stopped".into()))?;
        Ok(WriteTurn { _done: done })
    }
}

impl crate::Store {
    /// Runs a write transaction: on the write thread for SQLite, in a
    /// group, and directly for PostgreSQL, whose pool allows concurrent
    /// writers.
    pub(crate) async fn run_write<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        self.on_write_thread(job, Job::Grouped).await
    }

    /// Runs a job on the write thread outside any group (SQLite only; on
    /// PostgreSQL it runs directly).
    pub(crate) async fn run_alone<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        self.on_write_thread(job, Job::Alone).await
    }

    async fn on_write_thread<T, F, Fut>(
        &self,
        job: F,
        kind: fn(Work) -> Job,
    ) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match &self.write_thread {
            Some(thread) => thread.submit(job, kind).await,
            None => job().await,
        }
    }

    /// On SQLite, takes the write thread's turn for a write through sqlx's
    /// writer pool, so that write neither waits on a group's lock nor
    /// races the thread. Hold the turn until the write has committed. On
    /// PostgreSQL there is nothing to wait for.
    pub(crate) async fn write_turn(&self) -> Result<Option<WriteTurn>, StoreError> {
        match &self.write_thread {
            Some(thread) => thread.turn().await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;
    use tokio::sync::oneshot;

    use crate::batch::Batch;
    use crate::filter_sql::Bind;
    use crate::write_tx::WriteTx;
    use crate::{Store, StoreError, StoreOptions, lite};

    /// Inserts `n` into the scratch table in a transaction of its own and
    /// reports whether a group's transaction was already open before it.
    async fn insert(store: &Store, n: i64, fail: bool) -> Result<bool, StoreError> {
        let grouped = lite::in_transaction();
        let mut tx = WriteTx::begin(store).await?;
        let mut batch = Batch::default();
        batch.push("INSERT INTO scratch (n) VALUES ($1)", vec![Bind::Int(n)]);
        tx.write(batch).await?;
        if fail {
            // Runs the buffered insert, then drops the transaction unfinished.
            tx.fetch_all("SELECT 1", Vec::new()).await?;
            return Err(StoreError::Invalid(format!("job {n} fails")));
        }
        tx.commit().await?;
        Ok(grouped)
    }

    #[tokio::test]
    async fn queued_jobs_share_a_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .unwrap();
        store
            .run_alone(|| async {
                lite::execute_plain("CREATE TABLE scratch (n INTEGER PRIMARY KEY)")?;
                Ok(())
            })
            .await
            .unwrap();

        // The first job keeps the thread busy until the other three are queued.
        let (release, hold) = oneshot::channel::<()>();
        let first = {
            let store = store.clone();
            tokio::spawn(async move {
                let inner = store.clone();
                store
                    .run_write(move || async move {
                        let grouped = insert(&inner, 1, false).await?;
                        let _ = hold.await;
                        Ok(grouped)
                    })
                    .await
            })
        };
        let mut others = Vec::new();
        for (n, fail) in [(2, false), (3, true), (4, false)] {
            let store = store.clone();
            others.push(tokio::spawn(async move {
                let inner = store.clone();
                store
                    .run_write(move || async move { insert(&inner, n, fail).await })
                    .await
            }));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        release.send(()).unwrap();

        assert!(
            !first.await.unwrap().unwrap(),
            "the first job opens the group"
        );
        let mut results = Vec::new();
        for other in others {
            results.push(other.await.unwrap());
        }
        assert!(matches!(results[0], Ok(true)), "job 2 joined the group");
        assert!(
            matches!(&results[1], Err(StoreError::Invalid(m)) if m.contains("job 3")),
            "job 3 reports its own failure: {:?}",
            results[1]
        );
        assert!(matches!(results[2], Ok(true)), "job 4 joined the group");

        let stored: Vec<i64> = sqlx::query("SELECT n FROM scratch ORDER BY n")
            .fetch_all(&store.reader)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<i64, _>("n").unwrap())
            .collect();
        assert_eq!(
            stored,
            vec![1, 2, 4],
            "the failed job's insert was rolled back alone"
        );
    }

    #[tokio::test]
    async fn write_turn_pauses_write_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&StoreOptions::sqlite_in_dir(dir.path()))
            .await
            .unwrap();
        let turn = store.write_turn().await.unwrap();
        assert!(turn.is_some(), "SQLite has a write thread to wait for");

        // While the turn is held, the writer pool writes without waiting on
        // the write thread's lock.
        sqlx::query("CREATE TABLE held (n INTEGER)")
            .execute(&store.writer)
            .await
            .unwrap();
        let queued = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .run_write(|| async {
                        lite::execute_plain("INSERT INTO held (n) VALUES (1)")?;
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!queued.is_finished(), "the write thread waits for the turn");

        drop(turn);
        queued.await.unwrap().unwrap();
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM held")
            .fetch_one(&store.reader)
            .await
            .unwrap();
        assert_eq!(count, 1);
    }
}
