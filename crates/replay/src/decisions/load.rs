//! The load generator: a fixed set of HTTP/1.1 keep-alive connections,
//! each driven by one task that sends a decision request, waits for the
//! response and sends the next. Without a rate the tasks send as fast as the
//! server responds (a closed loop). With a rate, a pacing thread hands out
//! send times on an even schedule, and the next free connection sends each
//! request (an open loop).
//!
//! Latency is per request, until the whole response body has arrived. In
//! a closed loop it starts just before the request is handed to hyper. In
//! an open loop it starts at the request's scheduled send time, so a
//! request that waited for a free connection counts that wait.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use lockgate_server::GUESSES_PER_MINUTE;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio::net::TcpStream;

use super::Fixture;
use crate::replay::PhaseReport;

const DECISIONS_PATH: &str = "/device/v1/decisions";

/// Problem descriptions kept per run; the rest are only counted.
const PROBLEMS_KEPT: usize = 5;

/// Unknown badges sent to one bank per [`UNKNOWN_WINDOW`]. The server
/// responds 429 to every request of a bank, known badges included, once
/// the bank has presented [`GUESSES_PER_MINUTE`] unknown badges within a
/// minute, so the client stays two below that.
pub const UNKNOWN_PER_BANK: u32 = GUESSES_PER_MINUTE - 2;

/// The server's window is one minute from the first unknown badge. The
/// client's starts a little earlier, at the send, so it waits a few
/// seconds more before it starts a new one.
const UNKNOWN_WINDOW: Duration = Duration::from_secs(65);

/// Shares of the request mix in percent. The remaining requests present a
/// holder's badge at the holder's own door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// A holder's badge at another door of the same bank.
    pub other_door_percent: u32,
    /// A badge no user has, at a random bank.
    pub unknown_percent: u32,
}

impl Mix {
    pub fn own_door_percent(&self) -> u32 {
        100 - self.other_door_percent - self.unknown_percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OwnDoor,
    OtherDoor,
    UnknownBadge,
}

/// Unknown badges sent to one bank in its current window.
#[derive(Debug, Default, Clone, Copy)]
struct UnknownBudget {
    window_start: Option<Instant>,
    used: u32,
}

/// One request to send.
struct Pick {
    kind: Kind,
    bank: usize,
    door: u32,
    badge: String,
    /// The mix asked for an unknown badge, but every bank had used its
    /// budget of them, so this is an own-door request instead.
    deferred_unknown: bool,
}

/// The request mix over a fixture, with the header values built once.
struct Plan {
    fixture: Arc<Fixture>,
    mix: Mix,
    host: HeaderValue,
    /// `Bearer <device token>` of each bank.
    authorization: Vec<HeaderValue>,
    /// Unknown badges per bank, shared by every connection and run.
    unknown_budgets: Mutex<Vec<UnknownBudget>>,
}

impl Plan {
    /// Picks the next request. An unknown badge whose share comes up when
    /// every bank has used its budget becomes an own-door request.
    fn pick(&self, rng: &mut StdRng) -> Pick {
        let roll = rng.random_range(0..100);
        let mut deferred = false;
        if roll < self.mix.unknown_percent {
            match self.bank_for_unknown(rng) {
                Some(bank) => {
                    return Pick {
                        kind: Kind::UnknownBadge,
                        bank,
                        door: rng.random_range(1..=self.fixture.doors_per_bank),
                        badge: format!("X{:016x}", rng.random::<u64>()),
                        deferred_unknown: false,
                    };
                }
                None => deferred = true,
            }
        }
        let holder = &self.fixture.holders[rng.random_range(0..self.fixture.holders.len())];
        if !deferred && roll < self.mix.unknown_percent + self.mix.other_door_percent {
            // Any door of the bank but the holder's own.
            let mut door = rng.random_range(1..self.fixture.doors_per_bank);
            if door >= holder.door {
                door += 1;
            }
            return Pick {
                kind: Kind::OtherDoor,
                bank: holder.bank,
                door,
                badge: holder.badge.clone(),
                deferred_unknown: false,
            };
        }
        Pick {
            kind: Kind::OwnDoor,
            bank: holder.bank,
            door: holder.door,
            badge: holder.badge.clone(),
            deferred_unknown: deferred,
        }
    }

    /// Returns a bank, starting from a random one, that may still be sent
    /// an unknown badge in its window, and counts the badge against it.
    fn bank_for_unknown(&self, rng: &mut StdRng) -> Option<usize> {
        let mut budgets = self.unknown_budgets.lock().expect("unknown budget lock");
        let now = Instant::now();
        let first = rng.random_range(0..budgets.len());
        for offset in 0..budgets.len() {
            let bank = (first + offset) % budgets.len();
            let budget = &mut budgets[bank];
            let expired = budget
                .window_start
                .is_none_or(|start| now.duration_since(start) >= UNKNOWN_WINDOW);
            if expired {
                *budget = UnknownBudget {
                    window_start: Some(now),
                    used: 0,
                };
            }
            if budget.used < UNKNOWN_PER_BANK {
                budget.used += 1;
                return Some(bank);
            }
        }
        None
    }

    fn request(&self, pick: &Pick) -> anyhow::Result<Request<Full<Bytes>>> {
        let body = format!(
            r#"{{"bank":"{}","door":"{}","credential":{{"type":"badge","id":"{}"}}}}"#,
            self.fixture.banks[pick.bank].id, pick.door, pick.badge
        );
        Ok(Request::post(DECISIONS_PATH)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.authorization[pick.bank].clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?)
    }
}

/// The responses of one run, counted by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: u64,
    /// Requests sent by kind: a holder at their own door, a holder at
    /// another door, an unknown badge.
    pub own_door: u64,
    pub other_door: u64,
    pub unknown_badge: u64,
    /// Unknown-badge requests of the mix sent as own-door requests because
    /// every bank had used its budget of unknown badges.
    pub unknown_deferred: u64,
    pub allowed: u64,
    /// Denials by reason code.
    pub denied: BTreeMap<String, u64>,
    /// 429 responses, which the server sends a bank after too many unknown badges.
    pub rate_limited: u64,
    /// Transport errors and statuses other than 200 and 429.
    pub failed: u64,
    /// Responses that contradict the request: a denial at the holder's own
    /// door, an allow at another door or for an unknown badge, or a 429
    /// for a known badge.
    pub unexpected: u64,
}

impl Tally {
    pub fn denied_total(&self) -> u64 {
        self.denied.values().sum()
    }

    fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.own_door += other.own_door;
        self.other_door += other.other_door;
        self.unknown_badge += other.unknown_badge;
        self.unknown_deferred += other.unknown_deferred;
        self.allowed += other.allowed;
        for (reason, count) in &other.denied {
            *self.denied.entry(reason.clone()).or_insert(0) += count;
        }
        self.rate_limited += other.rate_limited;
        self.failed += other.failed;
        self.unexpected += other.unexpected;
    }
}

/// Per-request latencies of one run by outcome, each sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    pub allowed: Vec<Duration>,
    pub denied: Vec<Duration>,
    pub rate_limited: Vec<Duration>,
}

impl Latencies {
    /// Returns every latency of the run, sorted.
    pub fn all(&self) -> Vec<Duration> {
        let mut all: Vec<Duration> = self
            .allowed
            .iter()
            .chain(&self.denied)
            .chain(&self.rate_limited)
            .copied()
            .collect();
        all.sort_unstable();
        all
    }

    fn sort(&mut self) {
        self.allowed.sort_unstable();
        self.denied.sort_unstable();
        self.rate_limited.sort_unstable();
    }
}

/// The result of one run.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// From the start of the run until the last response arrived.
    pub elapsed: Duration,
    pub tally: Tally,
    pub latencies: Latencies,
    /// The first few failures and unexpected responses, described.
    pub problems: Vec<String>,
    /// With a rate: how late each request left against its schedule, sorted.
    pub schedule_lag: Vec<Duration>,
    /// Responses completed in each second of the run, to show whether the
    /// rate drifts as the run goes on.
    pub per_second: Vec<u64>,
}

impl RunReport {
    /// Requests with a response (of any status) per second.
    pub fn requests_per_second(&self) -> f64 {
        self.tally.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Allow and deny responses per second. 429s and failures are not decisions.
    pub fn decisions_per_second(&self) -> f64 {
        (self.tally.allowed + self.tally.denied_total()) as f64 / self.elapsed.as_secs_f64()
    }

    fn absorb(&mut self, worker: Worker) {
        self.tally.add(&worker.tally);
        self.latencies.allowed.extend(worker.latencies.allowed);
        self.latencies.denied.extend(worker.latencies.denied);
        self.latencies
            .rate_limited
            .extend(worker.latencies.rate_limited);
        self.schedule_lag.extend(worker.schedule_lag);
        if self.per_second.len() < worker.per_second.len() {
            self.per_second.resize(worker.per_second.len(), 0);
        }
        for (total, count) in self.per_second.iter_mut().zip(&worker.per_second) {
            *total += count;
        }
        for problem in worker.problems {
            if self.problems.len() < PROBLEMS_KEPT {
                self.problems.push(problem);
            }
        }
    }
}

/// Returns the `p`th percentile of sorted `latencies`, zero when empty.
pub fn percentile(latencies: &[Duration], p: f64) -> Duration {
    PhaseReport::percentile(latencies, p)
}

#[derive(Debug, Deserialize)]
struct Reply {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The counts, latencies and problems of one connection's task.
#[derive(Default)]
struct Worker {
    tally: Tally,
    latencies: Latencies,
    problems: Vec<String>,
    schedule_lag: Vec<Duration>,
    per_second: Vec<u64>,
}

impl Worker {
    fn count_second(&mut self, started: Instant) {
        let second = started.elapsed().as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(text);
        }
    }

    fn record(
        &mut self,
        plan: &Plan,
        pick: &Pick,
        status: StatusCode,
        body: &[u8],
        took: Duration,
    ) {
        self.tally.requests += 1;
        let describe = || {
            format!(
                "{:?} request, badge {} at {}-{}",
                pick.kind, pick.badge, plan.fixture.banks[pick.bank].id, pick.door
            )
        };
        match status {
            StatusCode::OK => match serde_json::from_slice::<Reply>(body) {
                Ok(reply) if reply.decision == "allow" => {
                    self.tally.allowed += 1;
                    self.latencies.allowed.push(took);
                    if pick.kind != Kind::OwnDoor {
                        self.tally.unexpected += 1;
                        self.problem(format!("{}: allowed", describe()));
                    }
                }
                Ok(reply) => {
                    let reason = reply.reason.unwrap_or_else(|| "(no reason)".to_string());
                    let expected = match pick.kind {
                        Kind::OwnDoor => false,
                        Kind::OtherDoor => true,
                        Kind::UnknownBadge => reason == "unknown_credential",
                    };
                    if !expected {
                        self.tally.unexpected += 1;
                        self.problem(format!("{}: denied with {reason}", describe()));
                    }
                    *self.tally.denied.entry(reason).or_insert(0) += 1;
                    self.latencies.denied.push(took);
                }
                Err(error) => {
                    self.tally.failed += 1;
                    self.problem(format!(
                        "{}: 200 with an unreadable body: {error}",
                        describe()
                    ));
                }
            },
            StatusCode::TOO_MANY_REQUESTS => {
                self.tally.rate_limited += 1;
                self.latencies.rate_limited.push(took);
                if pick.kind != Kind::UnknownBadge {
                    self.tally.unexpected += 1;
                    self.problem(format!("{}: 429", describe()));
                }
            }
            other => {
                self.tally.failed += 1;
                self.problem(format!(
                    "{}: {other}: {}",
                    describe(),
                    String::from_utf8_lossy(body)
                ));
            }
        }
    }
}

/// Open connections to the server and the request mix.
pub struct Generator {
    address: SocketAddr,
    plan: Arc<Plan>,
    connections: Vec<SendRequest<Full<Bytes>>>,
    rng: StdRng,
}

impl Generator {
    /// Opens `concurrency` connections to the server at `address`.
    pub async fn connect(
        address: SocketAddr,
        fixture: Arc<Fixture>,
        mix: Mix,
        concurrency: usize,
        seed: u64,
    ) -> anyhow::Result<Generator> {
        if fixture.holders.is_empty() {
            bail!("no user holds a locker, so no request can be allowed");
        }
        if mix.other_door_percent > 0 && fixture.doors_per_bank < 2 {
            bail!("other-door requests need banks of at least two doors");
        }
        let authorization = fixture
            .banks
            .iter()
            .map(|bank| HeaderValue::from_str(&format!("Bearer {}", bank.device_token)))
            .collect::<Result<Vec<_>, _>>()
            .context("a device token is not a valid header value")?;
        let plan = Arc::new(Plan {
            host: HeaderValue::from_str(&address.to_string())?,
            unknown_budgets: Mutex::new(vec![UnknownBudget::default(); fixture.banks.len()]),
            fixture,
            mix,
            authorization,
        });
        let mut connections = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            connections.push(open(address).await?);
        }
        Ok(Generator {
            address,
            plan,
            connections,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Sends requests on every connection for `duration`, at `rate`
    /// requests per second in total when given, else as fast as the
    /// server responds.
    pub async fn run(
        &mut self,
        duration: Duration,
        rate: Option<f64>,
    ) -> anyhow::Result<RunReport> {
        let count = self.connections.len();
        if count == 0 {
            bail!("every connection to the server failed");
        }

        let started = Instant::now();
        let end = started + duration;
        let tickets = rate
            .map(|rate| Tickets::start(started, end, rate))
            .transpose()?;
        let mut tasks = Vec::with_capacity(count);
        for sender in std::mem::take(&mut self.connections) {
            let task = Task {
                started,
                plan: self.plan.clone(),
                address: self.address,
                rng: StdRng::seed_from_u64(self.rng.random()),
                end,
                tickets: tickets.clone(),
            };
            tasks.push(tokio::spawn(task.drive(sender)));
        }

        let mut report = RunReport::default();
        for task in tasks {
            let (sender, worker) = task.await.context("a load task panicked")?;
            if let Some(sender) = sender {
                self.connections.push(sender);
            }
            report.absorb(worker);
        }

        report.elapsed = started.elapsed();
        report.latencies.sort();
        report.schedule_lag.sort_unstable();
        Ok(report)
    }
}

/// One connection's share of a run.
struct Task {
    started: Instant,
    plan: Arc<Plan>,
    address: SocketAddr,
    rng: StdRng,
    end: Instant,
    /// With a rate, the send times, shared by every connection.
    tickets: Option<Arc<Tickets>>,
}

impl Task {
    /// Sends requests until the run ends and returns the connection, or
    /// `None` when it broke and could not be opened again.
    async fn drive(
        mut self,
        mut sender: SendRequest<Full<Bytes>>,
    ) -> (Option<SendRequest<Full<Bytes>>>, Worker) {
        let mut worker = Worker::default();
        loop {
            let due = match &self.tickets {
                Some(tickets) => match tickets.next().await {
                    Some(due) => Some(due),
                    None => break,
                },
                None => None,
            };
            if due.is_none() && Instant::now() >= self.end {
                break;
            }
            let pick = self.plan.pick(&mut self.rng);
            worker.tally.unknown_deferred += u64::from(pick.deferred_unknown);
            match pick.kind {
                Kind::OwnDoor => worker.tally.own_door += 1,
                Kind::OtherDoor => worker.tally.other_door += 1,
                Kind::UnknownBadge => worker.tally.unknown_badge += 1,
            }
            let request = match self.plan.request(&pick) {
                Ok(request) => request,
                Err(error) => {
                    worker.tally.failed += 1;
                    worker.problem(format!("building a request failed: {error}"));
                    continue;
                }
            };
            let sent = Instant::now();
            if let Some(due) = due {
                worker
                    .schedule_lag
                    .push(sent.saturating_duration_since(due));
            }
            let from = due.unwrap_or(sent);
            let response = exchange(&mut sender, request).await;
            worker.count_second(self.started);
            match response {
                Ok((status, body)) => {
                    worker.record(&self.plan, &pick, status, &body, from.elapsed());
                }
                Err(error) => {
                    worker.tally.requests += 1;
                    worker.tally.failed += 1;
                    worker.problem(format!("POST {DECISIONS_PATH} failed: {error:#}"));
                    match open(self.address).await {
                        Ok(reopened) => sender = reopened,
                        Err(error) => {
                            worker.problem(format!("reconnecting failed: {error:#}"));
                            return (None, worker);
                        }
                    }
                }
            }
        }
        (Some(sender), worker)
    }
}

/// Shortest sleep of the pacing thread. Waking for each send time meant
/// 20,000 wake-ups a second at 20,000 requests a second, on the cores the
/// server uses. Alternated with such a pacer on the 2-core VM of
/// docs/benchmarks.md, waking at most every 100 µs lowered the open
/// loop's p99 in seven pairs of runs out of seven.
const PACER_QUANTUM: Duration = Duration::from_micros(100);

/// Send times on an even schedule, handed out by a thread of its own.
/// tokio's timer wakes tasks on whole milliseconds, so tasks that slept
/// until their own send times sent each millisecond's requests at once:
/// 20 at a time at 20,000 a second.
struct Tickets {
    due: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<Instant>>,
}

impl Tickets {
    /// Starts handing out `rate` send times a second from `started` until
    /// `end`.
    fn start(started: Instant, end: Instant, rate: f64) -> anyhow::Result<Arc<Tickets>> {
        let (sender, due) = tokio::sync::mpsc::unbounded_channel();
        let interval = Duration::from_secs_f64(1.0 / rate);
        std::thread::Builder::new()
            .name("decision-bench-pacer".into())
            .spawn(move || {
                pace(
                    started,
                    end,
                    interval,
                    |at| sender.send(at).is_ok(),
                    std::thread::sleep,
                );
            })
            .context("starting the pacing thread")?;
        Ok(Arc::new(Tickets {
            due: tokio::sync::Mutex::new(due),
        }))
    }

    /// Waits for the next send time and returns it, or `None` once the run
    /// has ended.
    async fn next(&self) -> Option<Instant> {
        self.due.lock().await.recv().await
    }
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Opens one HTTP/1.1 connection; its driver runs as a task of its own.
async fn open(address: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // A broken connection also fails the next request on it, which
        // the task counts and reports, so the error is not logged here.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Hands out the send times `started + k * interval` before `end` in
/// order, each once it has come, until `hand_out` returns false. Each
/// wake-up hands out every send time that has passed, and the thread
/// sleeps at least [`PACER_QUANTUM`] between wake-ups. A send time
/// handed out late keeps its scheduled value, so latency counts the delay.
fn pace(
    started: Instant,
    end: Instant,
    interval: Duration,
    mut hand_out: impl FnMut(Instant) -> bool,
    mut sleep: impl FnMut(Duration),
) {
    let mut k = 0u32;
    loop {
        let now = Instant::now();
        let mut at = started + interval * k;
        while at <= now {
            if at >= end || !hand_out(at) {
                return;
            }
            k += 1;
            at = started + interval * k;
        }
        if at >= end {
            return;
        }
        sleep((at - now).max(PACER_QUANTUM));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_hands_out_times_in_order() {
        let started = Instant::now();
        let interval = Duration::from_micros(50);
        let run = Duration::from_millis(50);
        let mut handed = Vec::new();
        let mut sleeps = Vec::new();
        pace(
            started,
            started + run,
            interval,
            |at| {
                handed.push((at, Instant::now()));
                true
            },
            |pause| {
                sleeps.push(pause);
                std::thread::sleep(pause);
            },
        );

        assert_eq!(handed.len(), 1_000, "one send time every 50 µs for 50 ms");
        for (k, (at, released)) in handed.iter().enumerate() {
            assert_eq!(*at, started + interval * k as u32, "send time {k}");
            assert!(released >= at, "send time {k} was handed out early");
        }
        // Each sleep lasts at least the quantum, so 50 ms has room for at
        // most 500 of them, half the number of send times.
        assert!(sleeps.iter().all(|pause| *pause >= PACER_QUANTUM));
        assert!(sleeps.len() <= 500, "{} sleeps", sleeps.len());
    }

    #[test]
    fn pacer_stops_without_receiver() {
        let started = Instant::now();
        let mut handed = 0;
        pace(
            started,
            started + Duration::from_secs(60),
            Duration::from_micros(50),
            |_| {
                handed += 1;
                handed < 3
            },
            std::thread::sleep,
        );
        assert_eq!(handed, 3);
    }
}
