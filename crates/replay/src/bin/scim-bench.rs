//! Replays Entra's initial provisioning cycle for a synthetic organisation
//! against a Lockgate server started in this process, over HTTP on
//! 127.0.0.1, and reports throughput and latency.
//!
//! `cargo run --release -p lockgate-replay --bin scim-bench -- --users 10000 --groups 500`

use std::time::Duration;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dialect = match args.dialect.as_str() {
        "default" => Dialect::EntraDefault,
        "compliant" => Dialect::Compliant,
        other => anyhow::bail!("--dialect {other:?} is not valid; use default or compliant"),
    };
    let dir = tempfile::tempdir()?;
    let options = match &args.database_url {
        Some(url) => StoreOptions::new(url.clone()),
        None => StoreOptions::sqlite_in_dir(dir.path()),
    };
    let store = Store::connect(&options).await?;
    let tenant = store.create_tenant(&Slug::parse("bench")?).await?;
    let (_, token) = store.create_scim_token(&tenant.id).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = App::new(store.clone(), ServerConfig::default());
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    let population = Population::new(args.users, args.groups);
    let script = initial_cycle(&population, dialect);
    let target = Target {
        base_url: format!("{origin}/scim/v2/bench"),
        token: token.expose().to_string(),
        concurrency: args.concurrency,
    };
    println!(
        "Replaying Entra's initial cycle: {} users, {} groups, {} requests, concurrency {}, {:?} dialect, {:?}",
        args.users,
        args.groups,
        script.request_count(),
        args.concurrency,
        dialect,
        store.backend()
    );
    let reports = run(&target, &script, &Bindings::default()).await?;

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
    server.await??;
    if errors > 0 {
        anyhow::bail!("{errors} requests got an unexpected status");
    }
    Ok(())
}
