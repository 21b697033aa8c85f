//! The SQLite write thread.
//!
//! SQLite allows one writer at a time. When write transactions ran on the
//! shared async runtime, each statement's continuation queued behind HTTP
//! work, and the writer sat idle while requests waited for it. Write
//! transactions now run one after another on a thread of their own, which
//! owns the write connection (see `lite`) and calls SQLite directly.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

#[derive(Clone)]
pub(crate) struct WriteThread {
    jobs: mpsc::UnboundedSender<Job>,
}

impl WriteThread {
    /// Starts the thread and opens its connection to the database at
    /// `path` with `pragmas`.
    pub fn start(path: String, pragmas: String) -> Result<WriteThread, StoreError> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
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
                let result = crate::lite::open(&path, &pragmas);
                let failed = result.is_err();
                let _ = opened.send(result);
                if failed {
                    return;
                }
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        // A job runs as a task, so a panic in it fails that
                        // write alone instead of ending the thread, and with
                        // it every later write.
                        if let Err(e) = tokio::spawn(job()).await {
                            tracing::error!(error = %e, "a write transaction panicked");
                        }
                    }
                });
                crate::lite::close();
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

    /// Runs `job` on the write thread and returns its result.
    pub async fn run<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = reply.send(job().await);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Config("the SQLite write thread has stopped".into()))?;
        result.await.map_err(|_| {
            StoreError::Internal("the write transaction panicked; see the server log".into())
        })?
    }
}

impl crate::Store {
    /// Runs a write transaction: on the write thread for SQLite, directly
    /// for PostgreSQL, whose pool allows concurrent writers.
    pub(crate) async fn run_write<T, F, Fut>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        match &self.write_thread {
            Some(thread) => thread.run(job).await,
            None => job().await,
        }
    }
}
