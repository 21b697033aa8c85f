//! Measures open decisions (`POST /device/v1/decisions`) over HTTP against
//! a `lockgate serve` process on 127.0.0.1, on a tenant built first through
//! the CLI, the admin API and SCIM. The server runs as a separate process
//! so that its resident memory and CPU time are its own.
//!
//! ```sh
//! cargo build --release -p lockgate -p lockgate-replay --bins
//! target/release/decision-bench --users 100000 --concurrency 32
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use lockgate_replay::decisions::admin::{AdminClient, ChainCheck};
use lockgate_replay::decisions::load::{
    Generator, Latencies, Mix, RunReport, UNKNOWN_PER_BANK, percentile,
};
use lockgate_replay::decisions::process::{self, Lockgate, ServerProcess};
use lockgate_replay::decisions::setup::{self, Layout, Provisioning, Step};
use lockgate_replay::decisions::{FIXTURE_FILE, Fixture};
use lockgate_server::GUESSES_PER_MINUTE;

/// The tenant's slug.
const TENANT: &str = "bench";

/// The target this benchmark checks.
const TARGET_DECISIONS_PER_SECOND: f64 = 20_000.0;
const TARGET_P99: Duration = Duration::from_millis(2);
const TARGET_RESIDENT_BYTES: u64 = 200_000_000;

#[derive(Parser)]
#[command(about = "Measure open decisions over HTTP against a separate lockgate server")]
struct Args {
    /// Users to provision over SCIM, each with a badge and in the lockers group.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Locker banks; each has its own device token.
    #[arg(long, default_value_t = 400)]
    banks: usize,
    /// Doors per bank.
    #[arg(long, default_value_t = 50)]
    doors_per_bank: u32,
    /// Banks of flex lockers, which no policy covers.
    #[arg(long, default_value_t = 30)]
    flex_banks: usize,
    /// Banks of shared lockers, which no policy covers.
    #[arg(long, default_value_t = 10)]
    shared_banks: usize,
    /// HTTP/1.1 keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Requests per second over all connections, on an even schedule (an
    /// open loop). The next free connection sends each request, and its
    /// latency counts from its scheduled time. 0 runs a closed loop: each
    /// connection sends its next request when the previous response
    /// arrives.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds of load before the measurement starts.
    #[arg(long, default_value_t = 5)]
    warm_up: u64,
    /// Seconds measured.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Percent of requests that present a holder's badge at another door of the same bank.
    #[arg(long, default_value_t = 15)]
    other_door_percent: u32,
    /// Percent of requests that present an unknown badge at a random bank.
    #[arg(long, default_value_t = 5)]
    unknown_percent: u32,
    /// SCIM requests in flight at once during setup.
    #[arg(long, default_value_t = 16)]
    provisioning_concurrency: usize,
    /// `lockgate device-token create` commands run at once during setup.
    #[arg(long, default_value_t = 4)]
    cli_parallel: usize,
    /// The lockgate binary; defaults to `lockgate` in this binary's directory.
    #[arg(long, value_name = "PATH")]
    lockgate: Option<PathBuf>,
    /// Directory for the database, kept after the run, with the server log
    /// and decision-bench.json, which contains the tenant's admin and device
    /// tokens. A directory that contains a tenant from an earlier run is reused
    /// and setup is skipped. Defaults to a temporary directory that is removed.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The server's SQLite `synchronous` setting: `normal` (Lockgate's
    /// default) or `full`.
    #[arg(long, default_value = "normal")]
    sqlite_synchronous: String,
    /// Seed of the request mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.other_door_percent + args.unknown_percent > 100 {
        bail!(
            "--other-door-percent {} and --unknown-percent {} add up to more than 100",
            args.other_door_percent,
            args.unknown_percent
        );
    }
    if args.concurrency == 0 || args.duration == 0 {
        bail!("--concurrency and --duration must be at least 1");
    }
    if args.rate < 0.0 || !args.rate.is_finite() {
        bail!("--rate {} is not a request rate; use 0 or more", args.rate);
    }
    let layout = Layout {
        banks: args.banks,
        doors_per_bank: args.doors_per_bank,
        flex_banks: args.flex_banks,
        shared_banks: args.shared_banks,
        banks_per_zone: 20,
    };
    layout.check()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(&args, &layout))
}

async fn bench(args: &Args, layout: &Layout) -> anyhow::Result<()> {
    let binary = match &args.lockgate {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("lockgate"),
    };
    if !binary.is_file() {
        bail!(
            "{} does not exist; build it with `cargo build --release -p lockgate` or pass --lockgate",
            binary.display()
        );
    }
    let temporary = tempfile::tempdir()?;
    let data_dir = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            std::path::absolute(dir)?
        }
        None => temporary.path().to_path_buf(),
    };
    let lockgate = Lockgate::new(binary, data_dir.clone(), args.sqlite_synchronous.clone());
    println!(
        "Machine: {} CPUs ({}), load average {} before setup",
        std::thread::available_parallelism().map_or(0, usize::from),
        process::cpu_model(),
        process::load_average()
    );
    println!(
        "Database: SQLite in {}, synchronous={}",
        data_dir.display(),
        args.sqlite_synchronous
    );

    let fixture_path = data_dir.join(FIXTURE_FILE);
    let stored: Option<Fixture> = match std::fs::read_to_string(&fixture_path) {
        Ok(text) => {
            Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is not a benchmark fixture", fixture_path.display())
            })?)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).context(format!("cannot read {}", fixture_path.display())),
    };
    let mut steps = Vec::new();
    let tenant = match stored {
        Some(fixture) => Tenant::Stored(fixture),
        None => Tenant::New(setup::create_credentials(
            &lockgate,
            TENANT,
            layout,
            args.cli_parallel,
            &mut steps,
        )?),
    };

    let http = reqwest::Client::new();
    let mut server = lockgate.serve(&data_dir.join("server.log"))?;
    let ready = server.wait_ready(&http, Duration::from_secs(300)).await?;
    let address = server.address()?;
    let origin = server.origin()?;
    let label = match tenant {
        Tenant::Stored(_) => "server start, index loaded from the database",
        Tenant::New(_) => "server start, empty database",
    };
    steps.push(Step::new(label, ready, ""));
    let resident_at_start = process::resident_bytes(server.pid())?;

    let fixture = match tenant {
        Tenant::Stored(fixture) => {
            println!(
                "Reusing the tenant in {} ({} users, {} lockers, {} holders); setup flags are ignored",
                fixture_path.display(),
                fixture.users,
                fixture.lockers,
                fixture.holders.len()
            );
            fixture
        }
        Tenant::New(credentials) => {
            let provisioning = Provisioning {
                users: args.users,
                concurrency: args.provisioning_concurrency,
            };
            let fixture =
                setup::populate(&origin, &credentials, layout, provisioning, &mut steps).await?;
            std::fs::write(&fixture_path, serde_json::to_string(&fixture)?)
                .with_context(|| format!("cannot write {}", fixture_path.display()))?;
            fixture
        }
    };
    let resident_after_setup = process::resident_bytes(server.pid())?;

    let admin = AdminClient::new(&origin, &fixture.tenant, &fixture.admin_token)?;
    let started = Instant::now();
    let before = check_chain(&admin, &lockgate, &fixture.tenant).await?;
    steps.push(Step::new(
        "audit chain check before the run (GET /audit/verify)",
        started.elapsed(),
        format!("{} records", before.records),
    ));
    if !before.intact {
        bail!(
            "the audit chain is broken before the run: {:?}",
            before.error
        );
    }

    print_setup(&steps, resident_at_start, resident_after_setup);
    let database = data_dir.join("lockgate.db");
    let result = measure(args, &fixture, &server, address, &database).await;
    let outcome = match result {
        Ok(measured) => verify_audit(&admin, &lockgate, &fixture, &server, before, measured).await,
        Err(error) => Err(error),
    };
    let stopped = server.stop(Duration::from_secs(30));
    if args.data_dir.is_some() {
        println!("Server log: {}", server.log_file().display());
    } else {
        println!(
            "Server log: removed with the temporary data directory; pass --data-dir to keep it"
        );
    }
    outcome?;
    stopped?;
    Ok(())
}

/// The tenant to measure: one an earlier run stored in the data directory,
/// or a new one whose credentials the CLI just created.
enum Tenant {
    Stored(Fixture),
    New(setup::Credentials),
}

fn print_setup(steps: &[Step], resident_at_start: u64, resident_after_setup: u64) {
    println!("\nSetup (not measured):");
    for step in steps {
        let detail = if step.detail.is_empty() {
            String::new()
        } else {
            format!("  ({})", step.detail)
        };
        println!(
            "  {:<62} {:>8.1} s{detail}",
            step.name,
            step.elapsed.as_secs_f64()
        );
    }
    println!(
        "  server resident memory: {} after start, {} after setup",
        megabytes(resident_at_start),
        megabytes(resident_after_setup)
    );
}

/// The measured run and the figures read around it.
struct Measured {
    warm_up: RunReport,
    run: RunReport,
    server_cpu: Duration,
    client_cpu: Duration,
    /// CPU time of every process on the machine, this one and the server included.
    machine_cpu: Duration,
    /// Largest resident memory during the run: the kernel's high-water mark,
    /// or the largest of samples every 250 ms where the mark cannot be reset.
    peak_resident: u64,
    kernel_peak: bool,
    resident_after: u64,
    /// Size of SQLite's write-ahead log before and after the measured run.
    wal_before: u64,
    wal_after: u64,
    /// Bytes the server caused to be written to storage during the run,
    /// where `/proc/PID/io` is readable.
    disk_written: Option<u64>,
    /// Requests per second offered by an open loop; 0 in a closed loop.
    offered: f64,
    /// HTTP connections the load generator used.
    connections: usize,
}

async fn measure(
    args: &Args,
    fixture: &Fixture,
    server: &ServerProcess,
    address: SocketAddr,
    database: &std::path::Path,
) -> anyhow::Result<Measured> {
    let mix = Mix {
        other_door_percent: args.other_door_percent,
        unknown_percent: args.unknown_percent,
    };
    let rate = (args.rate > 0.0).then_some(args.rate);
    let fixture = Arc::new(fixture.clone());
    let mut generator =
        Generator::connect(address, fixture, mix, args.concurrency, args.seed).await?;
    println!(
        "\nRun: {} connections, {}, mix {}% own door, {}% other door, {}% unknown badge; \
         {} s warm-up, {} s measured; load average {} at the start",
        args.concurrency,
        match rate {
            Some(rate) => format!("{rate:.0} requests/s offered"),
            None => "closed loop".to_string(),
        },
        mix.own_door_percent(),
        mix.other_door_percent,
        mix.unknown_percent,
        args.warm_up,
        args.duration,
        process::load_average()
    );
    let warm_up = generator
        .run(Duration::from_secs(args.warm_up), rate)
        .await?;

    let duration = Duration::from_secs(args.duration);
    let pid = server.pid();
    let wal_before = process::wal_bytes(database);
    let server_cpu_before = process::cpu_time(Some(pid))?;
    let client_cpu_before = process::cpu_time(None)?;
    let machine_cpu_before = process::machine_busy_time()?;
    let written_before = process::written_bytes(pid).ok();
    // The kernel's high-water mark records every peak. Samples, which can
    // miss a short one, are taken only where the mark cannot be reset.
    let kernel_peak = process::reset_peak_resident(pid).is_ok();
    let sampler = (!kernel_peak).then(|| {
        tokio::spawn(process::peak_resident_bytes(
            pid,
            Duration::from_millis(250),
            Instant::now() + duration,
        ))
    });
    let run = generator.run(duration, rate).await?;
    let server_cpu = process::cpu_time(Some(pid))?.saturating_sub(server_cpu_before);
    let client_cpu = process::cpu_time(None)?.saturating_sub(client_cpu_before);
    let machine_cpu = process::machine_busy_time()?.saturating_sub(machine_cpu_before);
    let disk_written = written_before
        .zip(process::written_bytes(pid).ok())
        .map(|(before, after)| after.saturating_sub(before));
    let resident_after = process::resident_bytes(pid)?;
    let peak_resident = match sampler {
        Some(sampler) => sampler.await?,
        None => process::peak_resident(pid)?,
    };
    Ok(Measured {
        warm_up,
        run,
        server_cpu,
        client_cpu,
        machine_cpu,
        peak_resident,
        kernel_peak,
        resident_after,
        wal_before,
        wal_after: process::wal_bytes(database),
        disk_written,
        offered: rate.unwrap_or(0.0),
        connections: args.concurrency,
    })
}

/// Checks the audit log after the run, prints the report and returns an
/// error when a request failed, a response was unexpected or an allowed
/// open has no audit record.
async fn verify_audit(
    admin: &AdminClient,
    lockgate: &Lockgate,
    fixture: &Fixture,
    server: &ServerProcess,
    before: ChainCheck,
    measured: Measured,
) -> anyhow::Result<()> {
    // Denials are written without waiting for the commit, so the count
    // waits a second for the writer to drain them. Allowed opens, the ones
    // checked, were committed before their responses.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let (actions, last_seq) = admin.count_actions_after(before.records).await?;
    let counted = started.elapsed();
    let started = Instant::now();
    let after = check_chain(admin, lockgate, &fixture.tenant).await?;
    let verified = started.elapsed();
    let resident_end = process::resident_bytes(server.pid())?;

    print_run(&measured);
    let allows_seen = measured.warm_up.tally.allowed + measured.run.tally.allowed;
    let denials_seen = measured.warm_up.tally.denied_total() + measured.run.tally.denied_total();
    let allowed_records = actions.get("open_allowed").copied().unwrap_or(0);
    let denied_records = actions.get("open_denied").copied().unwrap_or(0);
    println!(
        "\nAudit (warm-up and measured run): {allowed_records} open_allowed records for {allows_seen} allows \
         the client saw, {denied_records} open_denied records for {denials_seen} denials; \
         all records added: {actions:?}; counted in {:.1} s",
        counted.as_secs_f64()
    );
    println!(
        "  chain check: {}, {} records (last seq {last_seq}), {:.1} s",
        if after.intact { "intact" } else { "BROKEN" },
        after.records,
        verified.as_secs_f64()
    );
    println!(
        "  server resident memory at the end: {}",
        megabytes(resident_end)
    );
    print_verdict(&measured, fixture.users);

    let run = &measured.run.tally;
    let warm = &measured.warm_up.tally;
    if !after.intact {
        bail!("the audit chain is broken: {:?}", after.error);
    }
    if allowed_records < allows_seen {
        bail!(
            "{} allowed opens have no open_allowed audit record",
            allows_seen - allowed_records
        );
    }
    let failed = run.failed + warm.failed;
    let unexpected = run.unexpected + warm.unexpected;
    if failed > 0 || unexpected > 0 {
        bail!(
            "{failed} requests failed and {unexpected} responses were unexpected; see the problems listed above"
        );
    }
    Ok(())
}

/// Verifies the chain over HTTP, or with `lockgate audit verify` when a
/// part of the check exceeds the server's request timeout, as it could on
/// a machine much slower than the one the part size was chosen on.
async fn check_chain(
    admin: &AdminClient,
    lockgate: &Lockgate,
    tenant: &str,
) -> anyhow::Result<ChainCheck> {
    if let Some(check) = admin.verify_chain().await? {
        return Ok(check);
    }
    println!("  GET /audit/verify timed out; checking with `lockgate audit verify`");
    let (intact, stdout, stderr) = lockgate.run_text(&["audit", "verify", tenant])?;
    // The CLI prints `... is intact: N records, head HASH`.
    let records = stdout
        .split_once("intact: ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    match (intact, records) {
        (true, Some(records)) => Ok(ChainCheck {
            intact,
            records,
            error: None,
        }),
        _ => Ok(ChainCheck {
            intact: false,
            records: 0,
            error: Some(format!("{}{}", stdout.trim(), stderr.trim())),
        }),
    }
}

fn print_run(measured: &Measured) {
    let run = &measured.run;
    let tally = &run.tally;
    let seconds = run.elapsed.as_secs_f64();
    println!(
        "\nMeasured: {} requests in {seconds:.1} s = {:.0} requests/s, {:.0} decisions/s (allow or deny)",
        tally.requests,
        run.requests_per_second(),
        run.decisions_per_second()
    );
    println!(
        "  sent: {} own door, {} other door, {} unknown badge ({:.2}%); {} unknown badges sent as own-door \
         requests because every bank had been sent its {UNKNOWN_PER_BANK} for the minute \
         (the server answers a bank with 429 after {GUESSES_PER_MINUTE} unknown badges in a minute)",
        tally.own_door,
        tally.other_door,
        tally.unknown_badge,
        100.0 * tally.unknown_badge as f64 / tally.requests.max(1) as f64,
        tally.unknown_deferred
    );
    println!(
        "  allowed {}, denied {} {:?}, rate-limited (429) {}, failed {}, unexpected {}",
        tally.allowed,
        tally.denied_total(),
        tally.denied,
        tally.rate_limited,
        tally.failed,
        tally.unexpected
    );
    for problem in &run.problems {
        println!("  problem: {problem}");
    }

    let decisions = decisions(&run.latencies);
    println!("  latency, ms          p50      p90      p99    p99.9      max");
    print_latencies("decisions", &decisions);
    print_latencies("allowed", &run.latencies.allowed);
    print_latencies("denied", &run.latencies.denied);
    print_latencies("rate-limited", &run.latencies.rate_limited);
    print_latencies("every request", &run.latencies.all());
    println!("  (decisions are allow and deny answers; every request adds 429s and failures)");
    if !run.schedule_lag.is_empty() {
        print_latencies("send lag", &run.schedule_lag);
        println!("  (send lag: from a request's scheduled send time until a connection sent it)");
    }
    print_rate_drift(&run.per_second, run.elapsed);
    print_resources(measured);
}

/// Prints the CPU time, write-ahead log size and resident memory read
/// around the measured run.
fn print_resources(measured: &Measured) {
    let seconds = measured.run.elapsed.as_secs_f64();
    let cores = |time: Duration| time.as_secs_f64() / seconds;
    // CPU per decision is what `load-floor` varies, so the two reports
    // can be read side by side.
    let per_decision =
        measured.server_cpu.as_secs_f64() * 1e6 / measured.run.tally.requests.max(1) as f64;
    println!(
        "  CPU: server {:.2} cores ({per_decision:.0} µs a decision), load generator {:.2} cores, \
         other processes {:.2} cores (of {})",
        cores(measured.server_cpu),
        cores(measured.client_cpu),
        cores(
            measured
                .machine_cpu
                .saturating_sub(measured.server_cpu + measured.client_cpu)
        ),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!(
        "  SQLite write-ahead log file: {} before the run, {} after it (written over from its start each time the log starts over)",
        megabytes(measured.wal_before),
        megabytes(measured.wal_after)
    );
    if let Some(written) = measured.disk_written {
        let records = measured.run.tally.allowed + measured.run.tally.denied_total();
        println!(
            "  server writes to storage (log and database files): {} ({:.1} MB/s, {:.1} KB per audited decision; fewer records per group commit write more per record)",
            megabytes(written),
            written as f64 / 1e6 / seconds,
            written as f64 / 1e3 / records.max(1) as f64
        );
    }
    let source = if measured.kernel_peak {
        "VmHWM"
    } else {
        "sampled every 250 ms"
    };
    println!(
        "  server resident memory: peak {} since the measured run started ({source}), {} after it; load average {} at the end",
        megabytes(measured.peak_resident),
        megabytes(measured.resident_after),
        process::load_average()
    );
}

/// Prints the slowest and fastest whole second of the run and the first
/// and last five seconds, which show a rate that drifts during the run.
fn print_rate_drift(per_second: &[u64], elapsed: Duration) {
    // Responses that arrive after the run's last whole second are left out.
    let whole = &per_second[..per_second.len().min(elapsed.as_secs() as usize)];
    if whole.len() < 10 {
        return;
    }
    let average = |seconds: &[u64]| seconds.iter().sum::<u64>() as f64 / seconds.len() as f64;
    println!(
        "  responses per second: slowest second {}, fastest {}, first 5 s {:.0}/s, last 5 s {:.0}/s",
        whole.iter().min().copied().unwrap_or(0),
        whole.iter().max().copied().unwrap_or(0),
        average(&whole[..5]),
        average(&whole[whole.len() - 5..])
    );
}

fn decisions(latencies: &Latencies) -> Vec<Duration> {
    let mut decisions: Vec<Duration> = latencies
        .allowed
        .iter()
        .chain(&latencies.denied)
        .copied()
        .collect();
    decisions.sort_unstable();
    decisions
}

fn print_latencies(label: &str, sorted: &[Duration]) {
    if sorted.is_empty() {
        return;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<14} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}  ({} requests)",
        ms(percentile(sorted, 50.0)),
        ms(percentile(sorted, 90.0)),
        ms(percentile(sorted, 99.0)),
        ms(percentile(sorted, 99.9)),
        ms(sorted.last().copied().unwrap_or_default()),
        sorted.len()
    );
}

/// Share of an open loop's rate the server must respond to for the rate to
/// count as sustained. The requests still in flight when the measurement
/// ends fall outside it.
const SUSTAINED_SHARE: f64 = 0.99;

/// Users in the tenant the targets are set for.
const TARGET_USERS: usize = 100_000;

/// Prints the run against the targets. In an open loop the throughput
/// target is judged only when the offered rate reaches it, and is met when
/// the server returned decisions for at least [`SUSTAINED_SHARE`] of that
/// rate.
fn print_verdict(measured: &Measured, users: usize) {
    let connections = measured.connections;
    let offered = measured.offered;
    let rate = measured.run.decisions_per_second();
    let p99 = percentile(&decisions(&measured.run.latencies), 99.0);
    let resident = measured.peak_resident.max(measured.resident_after);
    let mark = |met: bool| if met { "met" } else { "MISSED" };
    let throughput = if offered <= 0.0 {
        format!(
            "{} decisions/s {rate:.0} (at least {TARGET_DECISIONS_PER_SECOND:.0})",
            mark(rate >= TARGET_DECISIONS_PER_SECOND)
        )
    } else if offered < TARGET_DECISIONS_PER_SECOND {
        format!(
            "decisions/s not judged: {offered:.0} offered, below the target of \
             {TARGET_DECISIONS_PER_SECOND:.0}"
        )
    } else {
        format!(
            "{} decisions/s {rate:.0} of {offered:.0} offered (at least \
             {TARGET_DECISIONS_PER_SECOND:.0})",
            mark(rate >= SUSTAINED_SHARE * offered)
        )
    };
    println!(
        "\nTarget: {throughput}; p99 {} {:.3} ms (under {} ms); resident memory {} {} peak (under {})",
        mark(p99 < TARGET_P99),
        p99.as_secs_f64() * 1000.0,
        TARGET_P99.as_millis(),
        mark(resident < TARGET_RESIDENT_BYTES),
        megabytes(resident),
        megabytes(TARGET_RESIDENT_BYTES)
    );
    if users != TARGET_USERS {
        println!("  The targets are set for {TARGET_USERS} users; this tenant has {users}.");
    }
    if offered <= 0.0 && connections > QUEUE_FREE_CONNECTIONS && rate > TARGET_DECISIONS_PER_SECOND
    {
        println!(
            "  This closed loop kept {connections} requests in flight and ran at {rate:.0}/s, above \
             the target rate, so its p99 includes time queued behind other requests. \
             docs/benchmarks.md judges the p99 with 12 or 16 connections, or in an open loop (--rate)."
        );
    }
}

/// Connections of a closed loop that load this 2-core machine at about the
/// target rate; more connections mostly add queueing.
const QUEUE_FREE_CONNECTIONS: usize = 16;

/// Formats bytes in decimal megabytes, the unit of the target.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
