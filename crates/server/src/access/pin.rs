//! PIN hashing and checking. Argon2id with the OWASP parameters costs tens
//! of milliseconds by design, so both run on the blocking pool, never on
//! the threads that serve other requests.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Wrong PINs in a row that lock a PIN.
pub(crate) const MAX_FAILURES: i64 = 5;
/// How long a locked PIN stays locked.
pub(crate) const LOCKOUT: Duration = Duration::minutes(15);

/// Checks that a PIN is 4 to 8 digits and not trivially guessable.
pub(crate) fn validate(pin: &str) -> Result<(), String> {
    if pin.len() < 4 || pin.len() > 8 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the PIN must be 4 to 8 digits".to_string());
    }
    let bytes = pin.as_bytes();
    let same = bytes.iter().all(|b| *b == bytes[0]);
    let ascending = bytes.windows(2).all(|w| w[1] == w[0] + 1);
    let descending = bytes.windows(2).all(|w| w[0] == w[1] + 1);
    if same || ascending || descending {
        return Err(format!(
            "the PIN {} is too easy to guess; avoid repeated digits and runs such as 1234",
            "*".repeat(pin.len())
        ));
    }
    Ok(())
}

pub(crate) async fn hash(pin: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(pin.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| format!("hashing the PIN failed: {e}"))
    })
    .await
    .map_err(|e| format!("hashing the PIN failed: {e}"))?
}

/// Returns whether `pin` matches the stored PHC string.
pub(crate) async fn verify(pin: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(pin.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The failure count and lock after one attempt.
pub(crate) fn after_attempt(
    failures: i64,
    matched: bool,
    now: OffsetDateTime,
) -> (i64, Option<OffsetDateTime>) {
    if matched {
        return (0, None);
    }
    let failures = failures + 1;
    if failures >= MAX_FAILURES {
        (failures, Some(now + LOCKOUT))
    } else {
        (failures, None)
    }
}

/// Queues for the PIN checks of each user. A check reads the failure
/// count, verifies for tens of milliseconds and then stores the count plus
/// one, so checks that overlapped would each store the same count, and
/// parallel guesses would never reach the lock.
#[derive(Default)]
pub(crate) struct Turns {
    queues: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// A user's turn to have a PIN checked. The user's next check waits until
/// this one is dropped.
pub(crate) struct Turn<'a> {
    turns: &'a Turns,
    user: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Waits until no other check of `user`'s PIN is running.
    pub(crate) async fn take(&self, user: &str) -> Turn<'_> {
        let queue = self
            .queues
            .lock()
            .expect("PIN turns lock")
            .entry(user.to_string())
            .or_default()
            .clone();
        Turn {
            turns: self,
            user: user.to_string(),
            guard: Some(queue.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn queue_count(&self) -> usize {
        self.queues.lock().expect("PIN turns lock").len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queues = self.turns.queues.lock().expect("PIN turns lock");
        drop(self.guard.take());
        // Every waiter clones the queue while holding this lock, so a
        // queue that only the map still refers to has no one left in it.
        if queues
            .get(&self.user)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            queues.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_weak_pins() {
        assert!(validate("4719").is_ok());
        for weak in ["123", "123456789", "12a4", "1111", "1234", "9876"] {
            assert!(validate(weak).is_err(), "{weak}");
        }
    }

    #[test]
    fn lockout_after_five_failures() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(after_attempt(3, false, now), (4, None));
        assert_eq!(after_attempt(4, false, now), (5, Some(now + LOCKOUT)));
        assert_eq!(after_attempt(4, true, now), (0, None));
    }

    #[tokio::test]
    async fn turns_run_one_at_a_time_per_user() {
        let turns = Arc::new(Turns::default());
        let first = turns.take("ana").await;
        let other_user = turns.take("ben").await;

        let waiting = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let _turn = turns.take("ana").await;
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());

        drop(first);
        waiting.await.unwrap();
        drop(other_user);
        // Queues with no one waiting are removed.
        assert_eq!(turns.queue_count(), 0);
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let stored = hash("4719".to_string()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("4719".to_string(), stored.clone()).await);
        assert!(!verify("4718".to_string(), stored).await);
    }
}
