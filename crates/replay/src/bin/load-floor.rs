//! Measures the latency floor of the decision benchmark's setup: the load
//! generator of `decision-bench` against a stand-in server that keeps no
//! state and spends a chosen CPU time on each request. Each row of the
//! report is one CPU time, with the stand-in's measured CPU per request.
//!
//! ```sh
//! cargo build --release -p lockgate-replay --bins
//! target/release/load-floor measure --rate 20000 --work-us 0,20,40
//! ```
//!
//! `load-floor stalls` measures the machine alone: how long threads that
//! never sleep are kept from running, with one and with two of them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lockgate_replay::decisions::load::{Generator, Mix, RunReport, percentile};
use lockgate_replay::decisions::process::{self, ServerProcess};
use lockgate_replay::decisions::{Fixture, floor, stalls};

/// Largest CPU time per request that `measure` accepts. At 10 ms a
/// request the two-core stand-in serves at most 200 requests a second.
const MAX_WORK_US: u64 = 10_000;

#[derive(Debug, Parser)]
#[command(about = "Measure the decision benchmark's latency floor against a stand-in server")]
struct Args {
    #[command(subcommand)]
    command: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Start a stand-in server for each CPU time in turn and measure it.
    Measure(Measure),
    /// Spin threads that never sleep and report how long the machine kept
    /// them from running, with no server and no load generator.
    Stalls(Stalls),
    /// Run the stand-in server until killed (started by `measure`).
    Serve {
        /// Address to listen on. With port 0 the system picks the port,
        /// which the "serving" line on standard error names.
        #[arg(long)]
        listen: SocketAddr,
        /// CPU time each request spends, in microseconds.
        #[arg(long)]
        work_us: u64,
    },
}

#[derive(Debug, clap::Args)]
struct Measure {
    /// CPU times the stand-in spends on each request, in microseconds,
    /// comma-separated. The report also gives the CPU the stand-in used in
    /// all, which adds HTTP and JSON and varies with the rate.
    #[arg(long, value_delimiter = ',', default_value = "0,20,40")]
    work_us: Vec<u64>,
    /// Requests per second on an even schedule (an open loop); 0 runs a
    /// closed loop.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    /// HTTP/1.1 keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 5)]
    warm_up: u64,
    /// Seconds measured for each CPU time.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Locker banks, each with its own device token.
    #[arg(long, default_value_t = 400)]
    banks: usize,
    /// Doors per bank, each with one badge holder.
    #[arg(long, default_value_t = 50)]
    doors_per_bank: u32,
}

#[derive(Debug, clap::Args)]
struct Stalls {
    /// Numbers of threads spinning at once, comma-separated; one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Percent of every millisecond each thread spins, comma-separated;
    /// one row for each pair of thread count and percent. Below 100 the
    /// thread sleeps the rest, and a wake-up later than the threshold
    /// counts as a stall too.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    busy_percent: Vec<u32>,
    /// Seconds each row spins.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Gaps between two clock readings longer than this count as stalls,
    /// in microseconds.
    #[arg(long, default_value_t = 500)]
    threshold_us: u64,
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Step::Measure(measure) => run_measure(&measure),
        Step::Stalls(args) => run_stalls(&args),
        Step::Serve { listen, work_us } => serve(listen, Duration::from_micros(work_us)),
    }
}

#[tokio::main]
async fn serve(listen: SocketAddr, work: Duration) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // The measuring process reads the port from this line.
    eprintln!(
        "load-floor stand-in serving listen={}",
        listener.local_addr()?
    );
    axum::serve(listener, floor::router(work).into_make_service()).await?;
    Ok(())
}

#[tokio::main]
async fn run_measure(args: &Measure) -> anyhow::Result<()> {
    check_args(args)?;
    let fixture = Arc::new(floor::fixture(args.banks, args.doors_per_bank));
    let rate = (args.rate > 0.0).then_some(args.rate);
    println!(
        "Stand-in server, {} connections, {}, {} s warm-up and {} s measured each; load average {}\n",
        args.concurrency,
        match rate {
            Some(rate) => format!("{rate:.0} requests/s offered"),
            None => "closed loop".to_string(),
        },
        args.warm_up,
        args.duration,
        process::load_average()
    );
    println!(
        "| CPU spent per request | stand-in CPU per request | stand-in cores | load generator cores \
         | requests/s | p50 | p99 | p99.9 | max | send lag p99 |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let logs = tempfile::tempdir()
        .context("failed to create a temporary directory for the stand-in logs")?;
    let http = reqwest::Client::new();
    for &work in &args.work_us {
        let row = measure_stand_in(args, &fixture, rate, &http, work, logs.path()).await;
        match row {
            Ok(row) => println!("| {work} µs | {row}"),
            Err(error) => {
                let kept = logs.keep();
                return Err(error.context(format!(
                    "measuring --work-us {work} failed; the stand-in logs are kept in {}",
                    kept.display()
                )));
            }
        }
    }
    Ok(())
}

/// Starts a stand-in that spends `work_us` on each request, with its log
/// in `logs`, measures it and stops it. Returns the rest of the report's
/// row.
async fn measure_stand_in(
    args: &Measure,
    fixture: &Arc<Fixture>,
    rate: Option<f64>,
    http: &reqwest::Client,
    work_us: u64,
    logs: &Path,
) -> anyhow::Result<String> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--work-us", &work_us.to_string()]);
    let log = logs.join(format!("stand-in-{work_us}.log"));
    let mut server = ServerProcess::spawn("load-floor serve", command, &log)?;
    server.wait_ready(http, Duration::from_secs(10)).await?;
    let row = measure_one(args, fixture, rate, server.address()?, server.pid()).await?;
    // The stand-in ends on SIGTERM without draining, so its exit status is
    // not checked.
    server.stop(Duration::from_secs(5))?;
    Ok(row)
}

/// Returns an error that names the value and the fix for settings that
/// cannot give a row.
fn check_args(args: &Measure) -> anyhow::Result<()> {
    if args.banks == 0 {
        bail!("invalid --banks 0: use at least 1 bank");
    }
    if args.doors_per_bank < 2 {
        bail!(
            "invalid --doors-per-bank {}: use at least 2, because other-door requests \
             need a second door",
            args.doors_per_bank
        );
    }
    if args.concurrency == 0 {
        bail!("invalid --concurrency 0: use at least 1 connection");
    }
    if args.duration == 0 {
        bail!("invalid --duration 0: measure for at least 1 second");
    }
    if let Some(work) = args.work_us.iter().find(|&&work| work > MAX_WORK_US) {
        bail!(
            "invalid --work-us {work}: use at most {MAX_WORK_US} µs a request, \
             or the stand-in serves too few requests to measure"
        );
    }
    Ok(())
}

/// Runs the warm-up and the measured phase against the stand-in at
/// `address`, process `pid`, and returns the rest of the report's row.
async fn measure_one(
    args: &Measure,
    fixture: &Arc<Fixture>,
    rate: Option<f64>,
    address: SocketAddr,
    pid: u32,
) -> anyhow::Result<String> {
    // decision-bench's default mix, so that the two reports compare.
    let mix = Mix {
        other_door_percent: 15,
        unknown_percent: 5,
    };
    let mut generator =
        Generator::connect(address, fixture.clone(), mix, args.concurrency, 1).await?;
    generator
        .run(Duration::from_secs(args.warm_up), rate)
        .await?;
    let server_before = process::cpu_time(Some(pid))?;
    let client_before = process::cpu_time(None)?;
    let run = generator
        .run(Duration::from_secs(args.duration), rate)
        .await?;
    let server_cpu = process::cpu_time(Some(pid))?.saturating_sub(server_before);
    let client_cpu = process::cpu_time(None)?.saturating_sub(client_before);
    check(&run)?;

    let requests = run.tally.requests as f64;
    let seconds = run.elapsed.as_secs_f64();
    let all = run.latencies.all();
    let ms = |latency: Duration| format!("{:.2} ms", latency.as_secs_f64() * 1000.0);
    Ok(format!(
        "{:.0} µs | {:.2} | {:.2} | {:.0} | {} | {} | {} | {} | {} |",
        server_cpu.as_secs_f64() * 1e6 / requests,
        server_cpu.as_secs_f64() / seconds,
        client_cpu.as_secs_f64() / seconds,
        requests / seconds,
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(percentile(&all, 99.9)),
        ms(all.last().copied().unwrap_or_default()),
        if run.schedule_lag.is_empty() {
            "-".to_string()
        } else {
            ms(percentile(&run.schedule_lag, 99.0))
        },
    ))
}

/// Returns an error when a request failed or a response differs from the
/// fixture, so that no row rests on failed exchanges.
fn check(run: &RunReport) -> anyhow::Result<()> {
    if run.tally.requests == 0 {
        bail!("the stand-in server returned no response");
    }
    if run.tally.failed > 0 || run.tally.unexpected > 0 {
        bail!(
            "{} requests failed and {} responses were unexpected: {:?}",
            run.tally.failed,
            run.tally.unexpected,
            run.problems
        );
    }
    Ok(())
}

/// Prints one row for each pair of thread count and busy share.
fn run_stalls(args: &Stalls) -> anyhow::Result<()> {
    if args.seconds == 0 {
        bail!("invalid --seconds 0: spin for at least 1 second");
    }
    if let Some(threads) = args.threads.iter().find(|&&n| n == 0 || n > 64) {
        bail!("invalid --threads {threads}: spin 1 to 64 threads at once");
    }
    if let Some(busy) = args.busy_percent.iter().find(|&&p| p == 0 || p > 100) {
        bail!("invalid --busy-percent {busy}: use 1 to 100 percent of each millisecond");
    }
    let threshold = Duration::from_micros(args.threshold_us);
    println!(
        "Threads that spin for a share of each millisecond, {} s a row; a stall is a gap over \
         {} µs between two clock readings or a wake-up that late. Load average {}\n",
        args.seconds,
        args.threshold_us,
        process::load_average()
    );
    println!("| threads | busy | stalls | time stalled | longest stalls |");
    println!("| ---: | ---: | ---: | ---: | --- |");
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let rows = args
        .threads
        .iter()
        .flat_map(|&threads| args.busy_percent.iter().map(move |&busy| (threads, busy)));
    for (threads, busy) in rows {
        let duration = Duration::from_secs(args.seconds);
        let mut seen = stalls::measure(threads, busy, duration, threshold);
        let count: usize = seen.iter().map(|thread| thread.gaps.len()).sum();
        let total: Duration = seen.iter().map(|thread| thread.total()).sum();
        let mut longest: Vec<Duration> = seen.iter_mut().flat_map(|t| t.gaps.drain(..)).collect();
        longest.sort_unstable_by(|a, b| b.cmp(a));
        let longest: Vec<String> = longest.into_iter().take(5).map(ms).collect();
        println!(
            "| {threads} | {busy} % | {count} | {} ({:.2} % of thread time) | {} |",
            ms(total),
            100.0 * total.as_secs_f64() / (duration.as_secs_f64() * threads as f64),
            if longest.is_empty() {
                "-".to_string()
            } else {
                longest.join(", ")
            }
        );
    }
    Ok(())
}
