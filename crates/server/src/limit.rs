//! A fixed-window counter that slows down guessing: unknown badges and
//! wrong PINs per locker bank, so a cloned-card scanner or a PIN guesser
//! at one bank gets a 429 long before it gets lucky.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Limiter {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Limiter {
    pub(crate) fn new(limit: u32, window: Duration) -> Limiter {
        Limiter {
            limit,
            window,
            counts: Mutex::default(),
        }
    }

    /// Returns the time left until `key` may try again, if it is over the limit.
    pub(crate) fn blocked(&self, key: &str) -> Option<Duration> {
        let counts = self.counts.lock().expect("limiter lock");
        let (start, count) = counts.get(key)?;
        let elapsed = start.elapsed();
        (elapsed < self.window && *count >= self.limit).then(|| self.window - elapsed)
    }

    /// Counts one failure for `key`.
    pub(crate) fn fail(&self, key: &str) {
        let mut counts = self.counts.lock().expect("limiter lock");
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = counts.entry(key.to_string()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_within_the_window() {
        let limiter = Limiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            limiter.fail("bank");
        }
        assert!(limiter.blocked("bank").is_none());
        limiter.fail("bank");
        assert!(limiter.blocked("bank").is_some());
        assert!(limiter.blocked("other").is_none());
    }

    #[test]
    fn window_expiry_resets_the_count() {
        let limiter = Limiter::new(1, Duration::from_millis(0));
        limiter.fail("bank");
        assert!(limiter.blocked("bank").is_none());
    }
}
