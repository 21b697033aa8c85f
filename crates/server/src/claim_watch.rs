//! Keeps the server's claim on its database while it serves. On
//! PostgreSQL the claim is a lock that ends with its connection, so a
//! database restart or a network failure can end it while this server
//! runs on. The watch takes it again. If another server took it first,
//! two servers would serve one database, so this one stops.

use std::time::Duration;

use lockgate_store::{ClaimCheck, ServerClaim, Store};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running watch over the claim.
pub(crate) struct ClaimWatch {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Watched>,
}

/// The claim back from its watch, and the message naming the other server
/// when it took the claim.
pub(crate) struct Watched {
    pub claim: ServerClaim,
    pub taken_by: Option<String>,
}

impl ClaimWatch {
    /// Checks `claim` every `every`. The receiver completes when another
    /// server has taken the claim.
    pub(crate) fn spawn(
        store: Store,
        claim: ServerClaim,
        every: Duration,
    ) -> (ClaimWatch, oneshot::Receiver<()>) {
        let (stop, stopped) = oneshot::channel();
        let (lost, on_lost) = oneshot::channel();
        let task = tokio::spawn(watch(store, claim, every, stopped, lost));
        (ClaimWatch { stop, task }, on_lost)
    }

    /// Ends the watch and returns the claim.
    pub(crate) async fn stop(self) -> std::io::Result<Watched> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)
    }
}

async fn watch(
    store: Store,
    mut claim: ServerClaim,
    every: Duration,
    mut stopped: oneshot::Receiver<()>,
    lost: oneshot::Sender<()>,
) -> Watched {
    loop {
        let check = async {
            tokio::time::sleep(every).await;
            claim.check(&store).await
        };
        let outcome = tokio::select! {
            _ = &mut stopped => None,
            outcome = check => Some(outcome),
        };
        match outcome {
            None => {
                return Watched {
                    claim,
                    taken_by: None,
                };
            }
            Some(ClaimCheck::Held) => {}
            Some(ClaimCheck::Unknown(error)) => {
                tracing::warn!(%error, "checking the claim on the database failed; trying again later");
            }
            Some(ClaimCheck::Taken(message)) => {
                tracing::error!(%message, "another server took the claim on the database; stopping");
                let _ = lost.send(());
                return Watched {
                    claim,
                    taken_by: Some(message),
                };
            }
        }
    }
}
