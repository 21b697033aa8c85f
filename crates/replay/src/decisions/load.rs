//! The load generator: a fixed set of HTTP/1.1 keep-alive connections
//! with at most one request in flight each, driven by one thread. Without
//! a rate, a connection sends its next request as soon as its response
//! arrives (a closed loop). With a rate, send times come on an even
//! schedule and the next idle connection sends each one (an open loop).
//!
//! Latency is per request, until the whole response body has arrived. In
//! a closed loop it starts just before the request is written. In an open
//! loop it starts at the request's scheduled send time, so a request that
//! waited for an idle connection counts that wait.

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::StatusCode;
use lockgate_server::GUESSES_PER_MINUTE;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use serde::Deserialize;

use super::{Fixture, wire};
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

/// The request mix over a fixture.
struct Plan {
    fixture: Arc<Fixture>,
    mix: Mix,
    /// The `Host` header: the server's address.
    host: String,
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

    /// Writes the request for `pick`, with its bank's device token.
    fn encode(&self, pick: &Pick, output: &mut Vec<u8>) {
        let bank = &self.fixture.banks[pick.bank];
        let body = format!(
            r#"{{"bank":"{}","door":"{}","credential":{{"type":"badge","id":"{}"}}}}"#,
            bank.id, pick.door, pick.badge
        );
        wire::encode_post(
            output,
            DECISIONS_PATH,
            &self.host,
            &bank.device_token,
            body.as_bytes(),
        )
        .expect("writing to a Vec cannot fail");
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

impl RunReport {
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

/// How long a request may wait for its response before the run fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Shortest wait of the event loop between send times. Waking for each
/// send time meant 20,000 wake-ups a second on the server's cores at
/// 20,000 requests a second. On the 2-core VM of docs/benchmarks.md, a
/// pacing thread that woke at most every 100 µs had the lower p99 in seven
/// of seven pairs of runs. This loop keeps that quantum.
const PACER_QUANTUM: Duration = Duration::from_micros(100);

/// Open connections to the server and the request mix.
pub struct Generator {
    address: SocketAddr,
    plan: Arc<Plan>,
    connections: Vec<Connection>,
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
        if let Some(bank) = fixture.banks.iter().find(|bank| {
            bank.device_token
                .bytes()
                .any(|byte| byte.is_ascii_control())
        }) {
            bail!(
                "the device token of bank {} contains a control character, which is invalid in a header",
                bank.id
            );
        }
        let plan = Arc::new(Plan {
            host: address.to_string(),
            unknown_budgets: Mutex::new(vec![UnknownBudget::default(); fixture.banks.len()]),
            fixture,
            mix,
        });
        let connections = (0..concurrency)
            .map(|_| Connection::open(address))
            .collect::<anyhow::Result<_>>()?;
        Ok(Generator {
            address,
            plan,
            connections,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Sends requests on every connection for `duration`, at `rate`
    /// requests per second in total when given, else as fast as the
    /// server responds. The requests go out from a thread of their own.
    pub async fn run(
        &mut self,
        duration: Duration,
        rate: Option<f64>,
    ) -> anyhow::Result<RunReport> {
        if self.connections.is_empty() {
            bail!("every connection to the server failed");
        }
        let run = Run {
            plan: self.plan.clone(),
            address: self.address,
            connections: std::mem::take(&mut self.connections)
                .into_iter()
                .map(Some)
                .collect(),
            rng: StdRng::seed_from_u64(self.rng.random()),
            report: RunReport::default(),
            idle: Vec::new(),
            in_flight: 0,
        };
        let (connections, report) = tokio::task::spawn_blocking(move || run.drive(duration, rate))
            .await
            .context("the load generator's thread panicked")??;
        self.connections = connections;
        Ok(report)
    }
}

/// One keep-alive connection, written and read without blocking.
struct Connection {
    stream: TcpStream,
    /// The request being sent, and how much of it the socket has taken.
    output: Vec<u8>,
    written: usize,
    /// Response bytes read so far.
    input: Vec<u8>,
    /// The request awaiting its response.
    waiting: Option<Waiting>,
    /// The server closed the connection or sent `Connection: close`, so it
    /// must be opened again before the next request.
    closed: bool,
}

struct Waiting {
    pick: Pick,
    /// The start of its latency: the send time in an open loop, else the send.
    from: Instant,
    /// When it was written, for the response timeout.
    sent: Instant,
}

impl Connection {
    fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        let stream =
            TcpStream::connect(address).with_context(|| format!("cannot connect to {address}"))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Connection {
            stream,
            output: Vec::with_capacity(512),
            written: 0,
            input: Vec::with_capacity(1024),
            waiting: None,
            closed: false,
        })
    }

    /// Writes as much of the request as the socket takes now.
    fn flush(&mut self) -> std::io::Result<()> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(count) => self.written += count,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Reads what has arrived and returns the response once it is whole.
    /// A response that arrived in full before the server closed the
    /// connection is returned, and `closed` is set.
    fn receive(&mut self) -> anyhow::Result<Option<wire::Response>> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(count) => self.input.extend_from_slice(&chunk[..count]),
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error.into()),
            }
        }
        let response = wire::parse_response(&self.input)?;
        if response.is_none() && self.closed {
            bail!("the server closed the connection before its response was complete");
        }
        if let Some(response) = &response
            && response.length != self.input.len()
        {
            bail!(
                "{} bytes arrived after the response, with no request waiting for them",
                self.input.len() - response.length
            );
        }
        Ok(response)
    }
}

/// The state of one run, on a thread of its own. It sends on idle
/// connections and waits for responses with `poll(2)`, whose timeout has
/// nanosecond resolution. tokio's timer wakes tasks on whole milliseconds,
/// so tasks that slept until their send times sent 20 requests at once at
/// 20,000 a second.
struct Run {
    plan: Arc<Plan>,
    address: SocketAddr,
    /// `None` for a connection that broke and could not be opened again.
    connections: Vec<Option<Connection>>,
    rng: StdRng,
    report: RunReport,
    /// Connections with no request waiting, by index.
    idle: Vec<usize>,
    in_flight: usize,
}

impl Run {
    fn drive(
        mut self,
        duration: Duration,
        rate: Option<f64>,
    ) -> anyhow::Result<(Vec<Connection>, RunReport)> {
        let started = Instant::now();
        let end = started + duration;
        let mut schedule = rate
            .map(|rate| Schedule::new(started, end, rate))
            .transpose()?;
        let mut backlog = VecDeque::new();
        self.idle = (0..self.connections.len()).rev().collect();
        let mut ready = Vec::with_capacity(self.connections.len());
        loop {
            let now = Instant::now();
            if let Some(schedule) = schedule.as_mut() {
                schedule.release(now, &mut backlog);
            }
            self.send_all(schedule.is_some(), &mut backlog, now < end);
            let finished = match &schedule {
                Some(schedule) => schedule.upcoming().is_none() && backlog.is_empty(),
                None => now >= end,
            };
            if finished && self.in_flight == 0 {
                break;
            }
            if self.in_flight == 0 && self.idle.is_empty() {
                bail!(
                    "every connection to the server failed: {:?}",
                    self.report.problems
                );
            }
            // A connection opened again after a failed send is idle while
            // work waits for it, so the loop sends again without waiting.
            let pending = match &schedule {
                Some(_) => !backlog.is_empty(),
                None => now < end,
            };
            if pending && !self.idle.is_empty() {
                continue;
            }
            let wake = match &schedule {
                Some(schedule) => schedule
                    .upcoming()
                    .map(|at| at.saturating_duration_since(now).max(PACER_QUANTUM)),
                None => (now < end).then(|| end - now),
            };
            self.wait(wake.unwrap_or(RESPONSE_TIMEOUT), &mut ready)?;
            for &(index, flags) in &ready {
                self.serve(index, flags, started);
            }
            self.check_stalls()?;
        }
        let mut report = self.report;
        report.elapsed = started.elapsed();
        report.latencies.sort();
        report.schedule_lag.sort_unstable();
        Ok((self.connections.into_iter().flatten().collect(), report))
    }

    /// Sends on idle connections. An open loop sends one request for each
    /// send time in `backlog`, and a closed loop one on each connection while
    /// `sending`. A connection that fails and is opened again waits for the
    /// next pass.
    fn send_all(&mut self, open_loop: bool, backlog: &mut VecDeque<Instant>, sending: bool) {
        for _ in 0..self.idle.len() {
            let due = if open_loop {
                match backlog.pop_front() {
                    Some(due) => Some(due),
                    None => break,
                }
            } else if sending {
                None
            } else {
                break;
            };
            self.send(due);
        }
    }

    /// Sends the next request of the mix on an idle connection.
    fn send(&mut self, due: Option<Instant>) {
        let Some(index) = self.idle.pop() else { return };
        let pick = self.plan.pick(&mut self.rng);
        let tally = &mut self.report.tally;
        tally.unknown_deferred += u64::from(pick.deferred_unknown);
        match pick.kind {
            Kind::OwnDoor => tally.own_door += 1,
            Kind::OtherDoor => tally.other_door += 1,
            Kind::UnknownBadge => tally.unknown_badge += 1,
        }

        let connection = self.connections[index]
            .as_mut()
            .expect("idle connections are open");
        connection.output.clear();
        connection.written = 0;
        self.plan.encode(&pick, &mut connection.output);

        let sent = Instant::now();
        if let Some(due) = due {
            self.report
                .schedule_lag
                .push(sent.saturating_duration_since(due));
        }
        connection.waiting = Some(Waiting {
            pick,
            from: due.unwrap_or(sent),
            sent,
        });
        self.in_flight += 1;
        if let Err(error) = connection.flush() {
            self.fail(index, error.into());
        }
    }

    /// Waits until a connection with a request in flight is readable, or
    /// writable with a request partly sent, or `timeout` has passed.
    /// Fills `ready` with those connections and their events.
    fn wait(&self, timeout: Duration, ready: &mut Vec<(usize, PollFlags)>) -> anyhow::Result<()> {
        ready.clear();
        let mut indexes = Vec::with_capacity(self.in_flight);
        let mut fds = Vec::with_capacity(self.in_flight);
        for (index, connection) in self.connections.iter().enumerate() {
            let Some(connection) = connection else {
                continue;
            };
            if connection.waiting.is_none() {
                continue;
            }
            let mut flags = PollFlags::IN;
            if connection.written < connection.output.len() {
                flags |= PollFlags::OUT;
            }
            indexes.push(index);
            fds.push(PollFd::new(&connection.stream, flags));
        }
        let timeout = Timespec::try_from(timeout).context("the poll timeout is out of range")?;
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error).context("waiting for responses"),
        }
        for (index, fd) in indexes.into_iter().zip(&fds) {
            let flags = fd.revents();
            if !flags.is_empty() {
                ready.push((index, flags));
            }
        }
        Ok(())
    }

    /// Writes or reads on a connection that `poll` reported ready.
    fn serve(&mut self, index: usize, flags: PollFlags, started: Instant) {
        let Some(connection) = self.connections[index].as_mut() else {
            return;
        };
        if flags.contains(PollFlags::OUT)
            && let Err(error) = connection.flush()
        {
            self.fail(index, error.into());
            return;
        }
        if !flags.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            return;
        }
        let response = match connection.receive() {
            Ok(Some(response)) => response,
            Ok(None) => return,
            Err(error) => {
                self.fail(index, error);
                return;
            }
        };
        let waiting = connection.waiting.take().expect("a request is in flight");
        let took = waiting.from.elapsed();
        self.report.count_second(started);
        let body = &connection.input[response.body];
        match StatusCode::from_u16(response.status) {
            Ok(status) => self
                .report
                .record(&self.plan, &waiting.pick, status, body, took),
            Err(_) => {
                self.report.tally.requests += 1;
                self.report.tally.failed += 1;
                self.report
                    .problem(format!("status {} is not an HTTP status", response.status));
            }
        }
        connection.input.clear();
        let reusable = !(connection.closed || response.close);
        self.in_flight -= 1;
        if reusable {
            self.idle.push(index);
        } else {
            self.reopen(index);
        }
    }

    /// Counts the request on a broken connection as failed and opens the
    /// connection again.
    fn fail(&mut self, index: usize, error: anyhow::Error) {
        self.report.tally.requests += 1;
        self.report.tally.failed += 1;
        self.report
            .problem(format!("POST {DECISIONS_PATH} failed: {error:#}"));
        self.in_flight -= 1;
        self.reopen(index);
    }

    /// Replaces a connection with a new one, or retires it when the server
    /// cannot be reached.
    fn reopen(&mut self, index: usize) {
        match Connection::open(self.address) {
            Ok(reopened) => {
                self.connections[index] = Some(reopened);
                self.idle.push(index);
            }
            Err(error) => {
                self.report
                    .problem(format!("reconnecting failed: {error:#}"));
                self.connections[index] = None;
            }
        }
    }

    /// Fails the run when a request has waited [`RESPONSE_TIMEOUT`].
    fn check_stalls(&self) -> anyhow::Result<()> {
        let oldest = self
            .connections
            .iter()
            .flatten()
            .filter_map(|connection| connection.waiting.as_ref())
            .map(|waiting| waiting.sent.elapsed())
            .max();
        match oldest {
            Some(waited) if waited > RESPONSE_TIMEOUT => bail!(
                "a request timed out after {} s without a response; check the server's log",
                waited.as_secs()
            ),
            _ => Ok(()),
        }
    }
}

/// Send times on an even schedule: `started + k * interval` for every `k`
/// that falls before `end`.
struct Schedule {
    started: Instant,
    end: Instant,
    interval: Duration,
    next: u32,
}

impl Schedule {
    fn new(started: Instant, end: Instant, rate: f64) -> anyhow::Result<Schedule> {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("invalid rate {rate}; give a positive number of requests a second");
        }
        Ok(Schedule {
            started,
            end,
            interval: Duration::from_secs_f64(1.0 / rate),
            next: 0,
        })
    }

    /// Returns the next send time not yet released, or `None` once all are.
    fn upcoming(&self) -> Option<Instant> {
        let at = self.started + self.interval * self.next;
        (at < self.end).then_some(at)
    }

    /// Moves every send time that has come by `now` to `backlog`, in
    /// order. A send time released late keeps its scheduled value, so
    /// latency counts the delay.
    fn release(&mut self, now: Instant, backlog: &mut VecDeque<Instant>) {
        while let Some(at) = self.upcoming() {
            if at > now {
                break;
            }
            backlog.push_back(at);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_releases_send_times_once_they_come() {
        let started = Instant::now();
        let interval = Duration::from_micros(50);
        let mut schedule =
            Schedule::new(started, started + Duration::from_millis(1), 20_000.0).unwrap();
        let mut backlog = VecDeque::new();

        schedule.release(
            started + interval * 3 + Duration::from_micros(10),
            &mut backlog,
        );
        let expected: Vec<Instant> = (0..4).map(|k| started + interval * k).collect();
        assert_eq!(Vec::from(backlog.clone()), expected);
        assert_eq!(schedule.upcoming(), Some(started + interval * 4));

        // Nothing new has come: nothing is released twice.
        schedule.release(
            started + interval * 3 + Duration::from_micros(20),
            &mut backlog,
        );
        assert_eq!(backlog.len(), 4);

        // Long after the end, only the times before the end come out.
        schedule.release(started + Duration::from_secs(1), &mut backlog);
        assert_eq!(backlog.len(), 20, "one send time every 50 µs for 1 ms");
        assert_eq!(backlog.back(), Some(&(started + interval * 19)));
        assert_eq!(schedule.upcoming(), None);
    }

    /// Serves each connection of `listener` one request, then closes it.
    /// With `respond` set, the response carries `Connection: close`.
    /// Without it, there is no response at all.
    fn serve_once_per_connection(listener: std::net::TcpListener, respond: bool) {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 2048];
            if stream.read(&mut request).is_err() || !respond {
                continue;
            }
            let body = r#"{"decision":"deny","reason":"not_assigned"}"#;
            let response = format!(
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    }

    /// Runs a closed loop of 200 ms on two connections against a server
    /// started with [`serve_once_per_connection`].
    async fn run_against_closing_server(respond: bool) -> (RunReport, Generator) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || serve_once_per_connection(listener, respond));
        let mix = Mix {
            other_door_percent: 100,
            unknown_percent: 0,
        };
        let fixture = Arc::new(crate::decisions::floor::fixture(2, 5));
        let mut generator = Generator::connect(address, fixture, mix, 2, 3)
            .await
            .unwrap();
        let run = generator
            .run(Duration::from_millis(200), None)
            .await
            .unwrap();
        (run, generator)
    }

    #[tokio::test]
    async fn generator_reopens_after_connection_close() {
        let (run, generator) = run_against_closing_server(true).await;
        let tally = &run.tally;
        assert_eq!(tally.failed, 0, "{:?}", run.problems);
        assert_eq!(tally.unexpected, 0, "{:?}", run.problems);
        assert!(tally.denied_total() > 2, "{tally:?}");
        assert_eq!(tally.denied_total(), tally.requests, "{tally:?}");
        assert_eq!(generator.connections.len(), 2);
    }

    #[tokio::test]
    async fn generator_counts_dropped_connections() {
        let (run, generator) = run_against_closing_server(false).await;
        let tally = &run.tally;
        assert!(tally.failed > 2, "{tally:?}");
        assert_eq!(tally.failed, tally.requests, "{tally:?}");
        assert!(
            run.problems
                .iter()
                .any(|problem| problem.contains("closed the connection")),
            "{:?}",
            run.problems
        );
        assert_eq!(generator.connections.len(), 2, "both connections reopened");
    }

    #[test]
    fn schedule_rejects_non_positive_rate() {
        let now = Instant::now();
        for rate in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let error = Schedule::new(now, now, rate).err().expect("rejected");
            assert!(error.to_string().contains("positive"), "{rate}: {error}");
        }
    }
}
