//! `lockgate demo`: starts the server on 127.0.0.1 with a demo hospital of
//! 1,000 lockers, replays Entra's provisioning cycles into it over SCIM,
//! requests open decisions at the doors and prints what happened, then
//! keeps serving until Ctrl-C.

mod api;
mod decisions;
mod hospital;
mod lost_access;
mod people;
mod provision;
mod report;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::Args;
use lockgate_domain::Slug;
use lockgate_server::App;
use lockgate_store::Store;
use tokio::sync::oneshot;

use crate::commands::{Context, shutdown_signal};
use api::Api;
use decisions::Floor;
use people::People;

/// The tenant slug the demo creates, with `-2`, `-3` and so on appended
/// when the database already has it.
const SLUG: &str = "demo-hospital";
/// The maximum number of demo tenants in one database.
const MAX_DEMO_TENANTS: u32 = 100;

#[derive(Args)]
pub struct DemoArgs {
    /// Address and port to listen on; the default picks a free port on 127.0.0.1.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Users in Entra's initial cycle, 100 to 700; ten joiners follow. About
    /// 12% of the users are nurses of each ward, and 700 users still leave
    /// free lockers among each ward's 100 personal lockers.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(100..=700))]
    users: u64,
    /// Exit after the summary instead of serving until Ctrl-C.
    #[arg(long)]
    no_serve: bool,
}

/// The tenant's credentials, created in the store before the server starts.
struct Credentials {
    slug: Slug,
    scim_token: String,
    admin_token: String,
    /// Device tokens by bank id.
    devices: HashMap<String, String>,
}

pub async fn demo(mut ctx: Context, data_dir_given: bool, args: DemoArgs) -> Result<ExitCode> {
    let started = Instant::now();
    init_logging(&ctx);
    // The temporary directory is deleted when this value drops, after the
    // server has closed the database.
    let mut temporary = None;
    if ctx.config.database.url.is_some() {
        let url = ctx.config.database_url(&ctx.data_dir);
        println!("Database: {}", lockgate_store::redact_url(&url));
    } else if data_dir_given {
        println!(
            "Data directory: {} (kept after the demo)",
            ctx.data_dir.display()
        );
    } else {
        let dir = tempfile::Builder::new()
            .prefix("lockgate-demo-")
            .tempdir()
            .context("cannot create a temporary data directory; give one with --data-dir")?;
        ctx.data_dir = dir.path().to_path_buf();
        println!(
            "Data directory: {} (temporary, deleted when the demo exits; keep one with --data-dir)",
            ctx.data_dir.display()
        );
        temporary = Some(dir);
    }

    let (store, claim) = ctx.server_store().await?;
    let credentials = create_tenant(&store).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pick another with --listen",
                args.listen
            )
        })?;
    // The demo's own requests go to the loopback address even when the
    // server listens on all addresses.
    let listening = listener.local_addr()?;
    let mut local = listening;
    if local.ip().is_unspecified() {
        local.set_ip(match local {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let origin = format!("http://{local}");
    let app = App::new(store, ctx.config.server_config()).with_claim(claim);
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));
    if local == listening {
        println!("Lockgate is listening on {origin}");
    } else {
        println!("Lockgate is listening on {listening}; the demo sends its requests to {origin}");
    }
    println!();

    let api = Api::new(
        origin,
        credentials.slug.as_str().to_string(),
        credentials.admin_token.clone(),
        credentials.scim_token.clone(),
    )?;
    let users = usize::try_from(args.users).context("--users is too large")?;
    let outcome = tokio::select! {
        result = run_scenario(&api, &credentials, users) => result,
        finished = &mut server => Err(server_stopped(finished)),
    };
    let example = match outcome {
        Ok(example) => example,
        Err(e) => {
            let _ = stop.send(());
            let _ = server.await;
            return Err(e);
        }
    };
    println!("The demo took {:.1} s.", started.elapsed().as_secs_f64());
    println!();

    if args.no_serve {
        let _ = stop.send(());
        server
            .await
            .map_err(|e| anyhow!("the server task failed: {e}"))??;
        if temporary.is_none() && ctx.config.database.url.is_none() {
            println!(
                "Serve the demo tenant again with `lockgate --data-dir {} serve`; \
                 create tokens with `lockgate --data-dir {0} admin-token create {}`.",
                ctx.data_dir.display(),
                credentials.slug
            );
        }
        drop(temporary);
        return Ok(ExitCode::SUCCESS);
    }

    print_serving(&api, &credentials, &example);
    tokio::select! {
        () = shutdown_signal() => {}
        finished = &mut server => return Err(server_stopped(finished)),
    }
    let _ = stop.send(());
    server
        .await
        .map_err(|e| anyhow!("the server task failed: {e}"))??;
    drop(temporary);
    Ok(ExitCode::SUCCESS)
}

/// Sets up logging to stderr like `serve`. The walkthrough goes to stdout,
/// and on a terminal the two interleave, so the default level `info` becomes
/// `warn`. `RUST_LOG` or a configured level other than `info` still applies.
fn init_logging(ctx: &Context) {
    let level = match ctx.config.log.level.as_str() {
        "info" => "warn",
        configured => configured,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if ctx.config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn server_stopped(finished: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Error {
    match finished {
        Ok(Ok(())) => anyhow!("the server stopped before the demo finished"),
        Ok(Err(e)) => anyhow!("the server stopped before the demo finished: {e}"),
        Err(e) => anyhow!("the server task failed: {e}"),
    }
}

/// Creates the demo tenant with a SCIM token, an admin token and a device
/// token for each bank, as `tenant create` and `device-token create` do.
async fn create_tenant(store: &Store) -> Result<Credentials> {
    let slug = free_slug(store).await?;
    let tenant = store.create_tenant(&slug).await?;
    let (_, scim_token) = store.create_scim_token(&tenant.id).await?;
    let (_, admin_token) = store.create_admin_token(&tenant.id).await?;
    let mut devices = HashMap::new();
    for bank in &hospital::BANKS {
        let (_, token) = store.create_device_token(&tenant.id, bank.id).await?;
        devices.insert(bank.id.to_string(), token.expose().to_string());
    }
    Ok(Credentials {
        slug,
        scim_token: scim_token.expose().to_string(),
        admin_token: admin_token.expose().to_string(),
        devices,
    })
}

/// Returns `demo-hospital`, or the first of `demo-hospital-2`,
/// `demo-hospital-3`, ... that the database does not have yet, so a kept
/// data directory collects one tenant per run.
async fn free_slug(store: &Store) -> Result<Slug> {
    for n in 1..=MAX_DEMO_TENANTS {
        let text = if n == 1 {
            SLUG.to_string()
        } else {
            format!("{SLUG}-{n}")
        };
        if store.tenant_by_slug(&text).await?.is_none() {
            return Ok(Slug::parse(&text)?);
        }
    }
    bail!(
        "the database already has the tenants {SLUG} to {SLUG}-{MAX_DEMO_TENANTS}; \
         give the demo a new --data-dir"
    )
}

/// A user and their locker, for the example requests printed at the end.
struct Example {
    user_name: String,
    badge: String,
    locker: api::Locker,
}

/// Runs every step against the server, prints the walkthrough and the
/// summary, and returns the sample nurse for the example requests.
async fn run_scenario(api: &Api, credentials: &Credentials, users: usize) -> Result<Example> {
    wait_until_ready(api).await?;
    println!(
        "Tenant {} created with a SCIM token, an admin token and a device token per bank.",
        api.slug
    );
    provision::set_up(api).await?;

    let mut people = People::new(users);
    let cast = people.cast()?;
    provision::provision_initial(api, &people).await?;
    let initial = api.assignments().await?;
    provision::provision_changes(api, &people, &cast).await?;
    people.follow_moves(&cast);
    let booking = provision::book_flex_locker(api, &people, cast.doctor).await?;
    println!(
        "{} booked {} until {} in the app (POST /app/v1/{}/bookings).",
        people.describe(cast.doctor),
        booking["locker"].as_str().unwrap_or("-"),
        booking["ends_at"].as_str().unwrap_or("-"),
        api.slug
    );
    println!();

    let current = api.assignments().await?;
    let lockers = api
        .lockers("")
        .await?
        .into_iter()
        .map(|locker| (locker.id.clone(), locker))
        .collect();
    let floor = Floor {
        lockers: &lockers,
        initial: &initial,
        current: &current,
        devices: &credentials.devices,
    };
    let cases = decisions::run(api, &people, &cast, &floor).await?;
    report::print(api, &people, &cast, &floor, &cases).await?;
    Ok(Example {
        user_name: people.population.user_name(cast.nurse),
        badge: people.badge(cast.nurse),
        locker: cases[0].locker.clone(),
    })
}

/// Waits until `/readyz` returns a success status, as it does once the
/// server has started.
async fn wait_until_ready(api: &Api) -> Result<()> {
    let client = reqwest::Client::new();
    let url = format!("{}/readyz", api.origin);
    for _ in 0..100 {
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out after 10 seconds waiting for a success status from {url}")
}

fn print_serving(api: &Api, credentials: &Credentials, example: &Example) {
    let admin = api.admin_base();
    let bank = &example.locker.bank;
    let device = credentials
        .devices
        .get(bank)
        .map(String::as_str)
        .unwrap_or("-");
    println!(
        "Lockgate keeps serving tenant {}. Press Ctrl-C to stop.",
        api.slug
    );
    println!("  SCIM base URL:        {}", api.scim_base());
    println!("  SCIM secret token:    {}", credentials.scim_token);
    println!("  admin API:            {admin}");
    println!("  admin token:          {}", credentials.admin_token);
    println!("  device token of {bank}: {device}");
    println!();

    println!("Try:");
    println!(
        "  export ADMIN={} SCIM={} DEVICE={device}",
        credentials.admin_token, credentials.scim_token
    );

    println!("  curl -s -H \"Authorization: Bearer $ADMIN\" {admin}/assignments");
    println!("  curl -s -H \"Authorization: Bearer $ADMIN\" '{admin}/outbox?limit=5'");
    println!("  curl -s -H \"Authorization: Bearer $ADMIN\" '{admin}/lockers?state=clear_out'");
    println!(
        "  curl -s -H \"Authorization: Bearer $ADMIN\" '{admin}/explain?user={}&locker=sr-team-1'",
        example.user_name
    );

    println!(
        "  curl -s -H \"Authorization: Bearer $SCIM\" '{}/Users?filter=active+eq+false'",
        api.scim_base()
    );
    println!(
        "  curl -s -H \"Authorization: Bearer $DEVICE\" -H 'Content-Type: application/json' \\\n      \
         -d '{{\"bank\": \"{bank}\", \"door\": \"{}\", \"credential\": {{\"type\": \"badge\", \"id\": \"{}\"}}}}' \\\n      \
         {}/device/v1/decisions",
        example.locker.door, example.badge, api.origin
    );
}
