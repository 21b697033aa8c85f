//! How long this machine keeps a runnable thread from running. Busy
//! threads read the clock in a loop. A gap between two readings longer
//! than a threshold is time the thread was not running: another task had
//! its CPU, or a virtual machine's host did not run the virtual CPU at all.
//! A guest whose host does not report its scheduling (no steal time in
//! `/proc/stat`) can measure only the gaps.
//!
//! The decision benchmark shares the same CPUs, so a stall that stops a
//! server thread for milliseconds delays every request behind it too.

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
    spin_with(until, busy, threshold, Instant::now, std::thread::sleep)
}

/// Spins for `busy` percent of each [`PERIOD`] and sleeps the rest, with
/// the clock and the sleep given, and returns the stalls seen.
fn spin_with(
    until: Instant,
    busy: u32,
    threshold: Duration,
    mut now: impl FnMut() -> Instant,
    mut sleep: impl FnMut(Duration),
) -> Vec<Duration> {
    let busy = PERIOD * busy / 100;
    let mut gaps = Vec::new();
    let mut period = now();
    while period < until {
        gaps.extend(gaps_until(period + busy, threshold, &mut now));
        let wake = period + PERIOD;
        let Some(rest) = wake.checked_duration_since(now()) else {
            // A stall ran past the period's end. It is counted already, so
            // the next period starts now.
            period = now();
            continue;
        };
        sleep(rest);
        let woke = now();
        let late = woke.saturating_duration_since(wake);
        if late > threshold {
            gaps.push(late);
            period = woke;
        } else {
            // Keep to the schedule so that the busy share is right over time.
            period = wake;
        }
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

    /// A clock that moves 10 µs a reading and jumps by `stall_us` at the
    /// first reading past `stall_at_us`. Its sleep moves it by the time
    /// requested, plus `late_us` the first time.
    struct FakeTime {
        now: std::cell::Cell<Instant>,
        stall: std::cell::Cell<Option<(Instant, Duration)>>,
        late: std::cell::Cell<Duration>,
    }

    impl FakeTime {
        fn new(start: Instant, stall_at_us: u64, stall_us: u64, late_us: u64) -> FakeTime {
            let stall = (
                start + Duration::from_micros(stall_at_us),
                Duration::from_micros(stall_us),
            );
            FakeTime {
                now: std::cell::Cell::new(start),
                stall: std::cell::Cell::new(Some(stall)),
                late: std::cell::Cell::new(Duration::from_micros(late_us)),
            }
        }

        fn read(&self) -> Instant {
            let mut next = self.now.get() + Duration::from_micros(10);
            if let Some((at, length)) = self.stall.get()
                && next > at
            {
                next += length;
                self.stall.set(None);
            }
            self.now.set(next);
            next
        }

        fn sleep(&self, rest: Duration) {
            self.now.set(self.now.get() + rest + self.late.take());
        }
    }

    #[test]
    fn spin_counts_stall_past_period_once() {
        let start = Instant::now();
        let time = FakeTime::new(start, 100, 4_000, 0);
        let gaps = spin_with(
            start + Duration::from_millis(10),
            90,
            Duration::from_micros(500),
            || time.read(),
            |rest| time.sleep(rest),
        );
        assert_eq!(gaps, vec![Duration::from_micros(4_010)]);
    }

    #[test]
    fn spin_counts_late_wake_up() {
        let start = Instant::now();
        let time = FakeTime::new(start, 10_000_000, 0, 2_000);
        let gaps = spin_with(
            start + Duration::from_millis(10),
            50,
            Duration::from_micros(500),
            || time.read(),
            |rest| time.sleep(rest),
        );
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0] >= Duration::from_micros(2_000), "{gaps:?}");
        assert!(gaps[0] < Duration::from_micros(2_100), "{gaps:?}");
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
