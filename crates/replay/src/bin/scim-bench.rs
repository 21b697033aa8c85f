//! Replays Entra's initial provisioning cycle for a synthetic organisation
//! against a Lockgate server started in this process, over HTTP on
//! 127.0.0.1, and reports throughput and latency.
//!
//! `cargo run --release -p lockgate-replay --bin scim-bench -- --users 10000 --groups 500`

use std::time::Duration;

/// The allocator of the `lockgate` binary, so that the server measured in
/// this process allocates as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use lockgate_domain::Slug;
use lockgate_replay::generate::{Dialect, Population, initial_cycle};
use lockgate_replay::replay::{Bindings, PhaseReport, Target, run};
use lockgate_server::{App, ServerConfig};
use lockgate_store::{Store, StoreOptions};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    #[arg(long, default_value_t = 500)]
    groups: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// PATCH dialect: `default` (Entra's) or `compliant` (aadOptscim062020).
    #[arg(long, default_value = "default")]
    dialect: String,
    /// Database URL; a fresh SQLite file in a temporary directory when unset.
    #[arg(long)]
    database_url: Option<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The address and token the server thread reports once it listens.
struct Started {
    origin: String,
    token: String,
    backend: String,
}

/// Runs the server on a runtime and threads of its own, as a separate
/// process would, so the load generator does not compete with it for the
/// same async worker threads.
fn start_server(
    database_url: Option<String>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<(Started, std::thread::JoinHandle<anyhow::Result<()>>)> {
    let (ready, started) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let dir = tempfile::tempdir()?;
            let options = match database_url {
                Some(url) => StoreOptions::new(url),
                None => StoreOptions::sqlite_in_dir(dir.path()),
            };
            let store = Store::connect(&options).await?;
            let tenant = store.create_tenant(&Slug::parse("bench")?).await?;
            let (_, token) = store.create_scim_token(&tenant.id).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            ready.send(Started {
                origin: format!("http://{}", listener.local_addr()?),
                token: token.expose().to_string(),
                backend: format!("{:?}", store.backend()),
            })?;
            App::new(store, ServerConfig::default())
                .serve(listener, async {
                    let _ = stop.await;
                })
                .await?;
            Ok(())
        })
    });
    let started = started
        .recv()
        .map_err(|_| anyhow::anyhow!("the server thread failed to start"))?;
    Ok((started, thread))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dialect = match args.dialect.as_str() {
        "default" => Dialect::EntraDefault,
        "compliant" => Dialect::Compliant,
        other => anyhow::bail!("--dialect {other:?} is not valid; use default or compliant"),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (started, server) = start_server(args.database_url.clone(), stopped)?;
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let origin = started.origin.clone();

    let population = Population::new(args.users, args.groups);
    let script = initial_cycle(&population, dialect);
    let target = Target {
        base_url: format!("{origin}/scim/v2/bench"),
        token: started.token.clone(),
        concurrency: args.concurrency,
    };
    println!(
        "Replaying Entra's initial cycle: {} users, {} groups, {} requests, concurrency {}, {:?} dialect, {:?}",
        args.users,
        args.groups,
        script.request_count(),
        args.concurrency,
        dialect,
        started.backend
    );
    let reports = client.block_on(run(&target, &script, &Bindings::default()))?;

    println!(
        "{:<10} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "phase", "requests", "writes", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut all = Vec::new();
    let mut writes = Vec::new();
    let mut elapsed = Duration::ZERO;
    let mut errors = 0;
    for r in &reports {
        println!(
            "{:<10} {:>8} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>9}",
            r.name,
            r.requests,
            r.writes,
            r.requests as f64 / r.elapsed.as_secs_f64(),
            ms(PhaseReport::percentile(&r.latencies, 50.0)),
            ms(PhaseReport::percentile(&r.latencies, 99.0)),
            r.unexpected.len()
        );
        for problem in r.unexpected.iter().take(3) {
            println!("  unexpected: {problem}");
        }
        all.extend(r.latencies.iter().copied());
        writes.extend(r.write_latencies.iter().copied());
        elapsed += r.elapsed;
        errors += r.unexpected.len();
    }
    all.sort();
    writes.sort();
    let seconds = elapsed.as_secs_f64();
    println!(
        "total: {} requests in {seconds:.1} s = {:.0} requests/s; {} writes = {:.0} writes/s; \
         p50 {:.2} ms, p99 {:.2} ms (writes p99 {:.2} ms); {errors} unexpected statuses",
        all.len(),
        all.len() as f64 / seconds,
        writes.len(),
        writes.len() as f64 / seconds,
        ms(PhaseReport::percentile(&all, 50.0)),
        ms(PhaseReport::percentile(&all, 99.0)),
        ms(PhaseReport::percentile(&writes, 99.0)),
    );
    let _ = stop.send(());
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
    if errors > 0 {
        anyhow::bail!("{errors} requests got an unexpected status");
    }
    Ok(())
}
