//! How long this machine keeps a runnable thread from running. Busy
//! threads read the clock in a loop. A gap between two readings longer
//! than a threshold is time the thread was not running: another task had
//! its CPU, or a virtual machine's host did not run the virtual CPU at all. A guest that is not told of the host's scheduling
//! (no steal time in `/proc/stat`) sees only the gaps.
//!
//! The decision benchmark shares the same CPUs, so a stall that holds a
//! server thread for milliseconds holds every request behind it too.

use std::time::{Duration, Instant};

/// Reads `now` until a reading is at or past `until` and returns the gaps
/// longer than `threshold` between consecutive readings, in order.
pub fn gaps_until(
    until: Instant,
    threshold: Duration,
    mut now: impl FnMut() -> Instant,
) -> Vec<Duration> {
    let mut gaps = Vec::new();
    let mut previous = now();
    while previous < until {
        let current = now();
        let gap = current.saturating_duration_since(previous);
        if gap > threshold {
            gaps.push(gap);
        }
        previous = current;
    }
    gaps
}

/// Stalls one spinning thread saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadStalls {
    /// Gaps longer than the threshold, longest first.
    pub gaps: Vec<Duration>,
}

impl ThreadStalls {
    pub fn total(&self) -> Duration {
        self.gaps.iter().sum()
    }
}

/// One millisecond: each thread is busy for its share of every period and
/// sleeps the rest.
pub const PERIOD: Duration = Duration::from_millis(1);

/// Runs `threads` threads at once for `duration`. Each spins for `busy`
/// percent of every [`PERIOD`] and sleeps the rest, and returns the gaps
/// longer than `threshold` it saw: while it spins, and where it woke from
/// a sleep later than that.
pub fn measure(
    threads: usize,
    busy: u32,
    duration: Duration,
    threshold: Duration,
) -> Vec<ThreadStalls> {
    let until = Instant::now() + duration;
    std::thread::scope(|scope| {
        let spinners: Vec<_> = (0..threads)
            .map(|_| scope.spawn(move || spin(until, busy, threshold)))
            .collect();
        spinners
            .into_iter()
            .map(|spinner| {
                let mut gaps = spinner.join().expect("a spinning thread panicked");
                gaps.sort_unstable_by(|a, b| b.cmp(a));
                ThreadStalls { gaps }
            })
            .collect()
    })
}

fn spin(until: Instant, busy: u32, threshold: Duration) -> Vec<Duration> {
    if busy >= 100 {
        return gaps_until(until, threshold, Instant::now);
    }
    let busy = PERIOD * busy / 100;
    let mut gaps = Vec::new();
    let mut period = Instant::now();
    while period < until {
        gaps.extend(gaps_until(period + busy, threshold, Instant::now));
        let wake = period + PERIOD;
        if let Some(rest) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(rest);
        }
        let late = Instant::now().saturating_duration_since(wake);
        if late > threshold {
            gaps.push(late);
        }
        // Keep to the schedule so that the busy share is right over time.
        // After a stall, start again from now rather than catch up.
        period = if late > threshold {
            Instant::now()
        } else {
            wake
        };
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that returns `start` plus each offset in turn.
    fn clock(start: Instant, offsets_us: &[u64]) -> impl FnMut() -> Instant {
        let mut readings = offsets_us
            .iter()
            .map(move |&us| start + Duration::from_micros(us))
            .collect::<Vec<_>>()
            .into_iter();
        move || readings.next().expect("the test clock ran out of readings")
    }

    #[test]
    fn gaps_until_keeps_long_gaps_in_order() {
        let start = Instant::now();
        let readings = [0, 10, 20, 1_020, 1_030, 5_030, 5_040, 5_540, 10_000];
        let gaps = gaps_until(
            start + Duration::from_micros(10_000),
            Duration::from_micros(500),
            clock(start, &readings),
        );
        assert_eq!(
            gaps,
            vec![
                Duration::from_micros(1_000),
                Duration::from_micros(4_000),
                Duration::from_micros(4_460),
            ]
        );
    }

    #[test]
    fn gaps_until_skips_gap_at_threshold() {
        let start = Instant::now();
        let gaps = gaps_until(
            start + Duration::from_micros(1_000),
            Duration::from_micros(500),
            clock(start, &[0, 500, 1_000]),
        );
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    #[test]
    fn measure_sorts_each_threads_gaps() {
        let stalls = measure(2, 100, Duration::from_millis(20), Duration::from_nanos(1));
        assert_eq!(stalls.len(), 2);
        for thread in &stalls {
            assert!(
                !thread.gaps.is_empty(),
                "a 1 ns threshold sees every reading"
            );
            assert!(thread.gaps.windows(2).all(|pair| pair[0] >= pair[1]));
        }
    }
}
