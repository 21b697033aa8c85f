//! Sends Entra-shaped provisioning traffic to a running Lockgate server, or
//! writes it to a file for later replay.
//!
//! `lockgate-replay --url http://127.0.0.1:8080/scim/v2/demo --token lgs_... --users 200 --groups 12`

use std::path::PathBuf;

use clap::Parser;
use lockgate_replay::Script;
use lockgate_replay::generate::{Dialect, Population, incremental_cycle, initial_cycle};
use lockgate_replay::replay::{Bindings, PhaseReport, Target, run};

#[derive(Parser)]
#[command(about = "Replay Entra-shaped SCIM provisioning traffic")]
struct Args {
    /// The tenant's SCIM base URL.
    #[arg(long)]
    url: Option<String>,
    /// The tenant's SCIM secret token.
    #[arg(long, env = "LOCKGATE_SCIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long, default_value_t = 200)]
    users: usize,
    #[arg(long, default_value_t = 12)]
    groups: usize,
    /// `default` (Entra's PATCH dialect) or `compliant` (aadOptscim062020).
    #[arg(long, default_value = "default")]
    dialect: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Also run an incremental cycle: 5% movers and 5% leavers.
    #[arg(long)]
    incremental: bool,
    /// Write the generated script to FILE as JSON lines instead of sending it.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Send a recorded script from FILE instead of generating one.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dialect = match args.dialect.as_str() {
        "default" => Dialect::EntraDefault,
        "compliant" => Dialect::Compliant,
        other => anyhow::bail!("--dialect {other:?} is not valid; use default or compliant"),
    };
    let script = match &args.script {
        Some(file) => Script::from_json_lines(&std::fs::read_to_string(file)?)?,
        None => {
            let population = Population::new(args.users, args.groups);
            let mut script = initial_cycle(&population, dialect);
            if args.incremental {
                let step = 20;
                let movers: Vec<usize> = (1..args.users).step_by(step).collect();
                let leavers: Vec<usize> = (2..args.users).step_by(step).collect();
                script
                    .phases
                    .extend(incremental_cycle(&population, dialect, &movers, &leavers).phases);
            }
            script
        }
    };
    if let Some(file) = &args.record {
        std::fs::write(file, script.to_json_lines() + "\n")?;
        println!(
            "Wrote {} requests in {} phases to {}",
            script.request_count(),
            script.phases.len(),
            file.display()
        );
        return Ok(());
    }
    let (Some(url), Some(token)) = (args.url, args.token) else {
        anyhow::bail!("--url and --token are required to send requests (or use --record FILE)");
    };
    let target = Target {
        base_url: url,
        token,
        concurrency: args.concurrency,
    };
    let reports = run(&target, &script, &Bindings::default()).await?;
    let mut problems = 0;
    for r in &reports {
        println!(
            "{:<9} {:>6} requests  {:>6.0} req/s  p99 {:>7.2} ms  {} unexpected",
            r.name,
            r.requests,
            r.requests as f64 / r.elapsed.as_secs_f64().max(1e-9),
            PhaseReport::percentile(&r.latencies, 99.0).as_secs_f64() * 1000.0,
            r.unexpected.len()
        );
        for problem in r.unexpected.iter().take(5) {
            println!("    {problem}");
        }
        problems += r.unexpected.len();
    }
    if problems > 0 {
        anyhow::bail!("{problems} requests got an unexpected status");
    }
    Ok(())
}
