//! A fixed-window counter that slows down guessing: unknown badges and
//! wrong PINs per locker bank, so a cloned-card scanner or a PIN guesser
//! at one bank gets a 429 long before it gets lucky.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Limiter {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, Window>>,
}

/// Failures in the current window of one key, and attempts begun with
/// [`Limiter::begin`] that have not finished yet.
struct Window {
    start: Instant,
    failures: u32,
    running: u32,
}

impl Window {
    /// Starts a new window when this one has lasted `length`. Running
    /// attempts carry over, because their places stay taken.
    fn roll(&mut self, length: Duration) {
        if self.start.elapsed() >= length {
            self.start = Instant::now();
            self.failures = 0;
        }
    }
}

/// An attempt that takes one of its key's places until it is dropped.
/// [`Attempt::failed`] turns the place into a failure of the window.
pub(crate) struct Attempt<'a> {
    limiter: &'a Limiter,
    key: String,
    failed: bool,
}

impl Limiter {
    pub(crate) fn new(limit: u32, window: Duration) -> Limiter {
        Limiter {
            limit,
            window,
            counts: Mutex::default(),
        }
    }

    /// Returns the time left until `key` may try again, if its failures
    /// have reached the limit. Attempts still running do not count here:
    /// they end within moments, and a wait of the rest of the window would
    /// turn away a valid badge for nothing.
    pub(crate) fn blocked(&self, key: &str) -> Option<Duration> {
        let mut counts = self.counts.lock().expect("limiter lock");
        let window = counts.get_mut(key)?;
        self.wait(window, 0)
    }

    /// Begins an attempt that runs long enough for many others to start
    /// meanwhile, such as a PIN check. It takes a place of `key` until it
    /// ends. Returns the time to wait instead when no place is left.
    pub(crate) fn begin(&self, key: &str) -> Result<Attempt<'_>, Duration> {
        let mut counts = self.counts.lock().expect("limiter lock");
        let window = self.window_of(&mut counts, key);
        let running = window.running;
        if let Some(wait) = self.wait(window, running) {
            return Err(wait);
        }
        window.running += 1;
        Ok(Attempt {
            limiter: self,
            key: key.to_string(),
            failed: false,
        })
    }

    /// Counts one failure for `key`.
    pub(crate) fn fail(&self, key: &str) {
        let mut counts = self.counts.lock().expect("limiter lock");
        self.window_of(&mut counts, key).failures += 1;
    }

    /// Returns the time left in `window` when its failures and `running`
    /// attempts have reached the limit, starting a new window first when
    /// this one is over.
    fn wait(&self, window: &mut Window, running: u32) -> Option<Duration> {
        window.roll(self.window);
        let left = self.window.saturating_sub(window.start.elapsed());
        (window.failures + running >= self.limit).then_some(left)
    }

    fn window_of<'m>(&self, counts: &'m mut HashMap<String, Window>, key: &str) -> &'m mut Window {
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, w| w.running > 0 || w.start.elapsed() < window);
        }
        let entry = counts.entry(key.to_string()).or_insert(Window {
            start: Instant::now(),
            failures: 0,
            running: 0,
        });
        entry.roll(self.window);
        entry
    }
}

impl Attempt<'_> {
    /// Counts the attempt as a failure once it ends.
    pub(crate) fn failed(mut self) {
        self.failed = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut counts = self.limiter.counts.lock().expect("limiter lock");
        let window = self.limiter.window_of(&mut counts, &self.key);
        window.running = window.running.saturating_sub(1);
        if self.failed {
            window.failures += 1;
        }
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
    fn running_attempts_take_places() {
        let limiter = Limiter::new(3, Duration::from_secs(60));
        let first = limiter.begin("bank").unwrap();
        let second = limiter.begin("bank").unwrap();
        limiter.fail("bank");
        // Two running and one failure fill the three places.
        assert!(limiter.begin("bank").is_err());
        assert!(limiter.begin("other").is_ok());
        // A badge waits only for failures, not for checks still running.
        assert!(limiter.blocked("bank").is_none());

        // An attempt that ends without failing gives its place back.
        drop(first);
        let third = limiter.begin("bank").unwrap();
        // One that failed keeps it for the rest of the window.
        second.failed();
        assert!(limiter.begin("bank").is_err());
        drop(third);
        assert!(limiter.begin("bank").is_ok());
    }

    #[test]
    fn window_expiry_resets_the_count() {
        let limiter = Limiter::new(1, Duration::from_millis(0));
        limiter.fail("bank");
        assert!(limiter.blocked("bank").is_none());
    }
}
