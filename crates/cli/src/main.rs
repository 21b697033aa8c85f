//! The `lockgate` binary.

mod alloc;
mod audit;
mod break_glass;
mod commands;
mod config;
mod demo;
mod import;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lockgate",
    version,
    about = "Smart-locker access that follows your identity provider"
)]
struct Cli {
    /// Directory for the embedded SQLite database (`lockgate.db`); defaults to
    /// ./lockgate-data, except for `demo`, which uses a temporary directory.
    #[arg(long, global = true, env = "LOCKGATE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (`postgres://...` or `sqlite://...`); overrides --data-dir.
    #[arg(
        long,
        global = true,
        env = "LOCKGATE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, global = true, env = "LOCKGATE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address and port to listen on, such as 0.0.0.0:8080. Port 0 lets
        /// the system pick a free port, which the "lockgate serving" log line
        /// names.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(commands::TenantCommand),
    /// Manage a tenant's long-lived SCIM secret tokens.
    #[command(subcommand, name = "scim-token")]
    ScimToken(commands::ScimTokenCommand),
    /// Manage a tenant's OAuth 2.0 clients for the SCIM token endpoint.
    #[command(subcommand, name = "oauth-client")]
    OAuthClient(commands::OAuthClientCommand),
    /// Show a tenant's provisioning log, newest first.
    #[command(name = "provisioning-log")]
    ProvisioningLog(commands::LogArgs),
    /// Manage a tenant's admin API tokens.
    #[command(subcommand, name = "admin-token")]
    AdminToken(commands::AdminTokenCommand),
    /// Manage the tokens of a tenant's locker bank controllers.
    #[command(subcommand, name = "device-token")]
    DeviceToken(commands::DeviceTokenCommand),
    /// Create a local emergency admin account that never uses single sign-on.
    #[command(subcommand, name = "break-glass")]
    BreakGlass(break_glass::BreakGlassCommand),
    /// Verify or export a tenant's tamper-evident audit chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Import sites, zones, banks and lockers from a CSV or TOML file; a
    /// file with any bad row imports nothing.
    Import(import::ImportArgs),
    /// Run a demo hospital: Entra-shaped SCIM traffic in, locker
    /// assignments and open decisions out, then keep serving until Ctrl-C.
    ///
    /// Without --data-dir the database lives in a new temporary directory
    /// that is deleted on exit. With --data-dir it is kept, and when it
    /// already has a demo-hospital tenant the demo creates demo-hospital-2
    /// (then -3 and so on), so earlier runs stay as they were.
    ///
    /// The server logs only warnings and errors while the demo runs, so its
    /// lines do not break up the walkthrough. Set RUST_LOG=info to see more.
    Demo(demo::DemoArgs),
    /// Check that a running server is ready; exits 0 when it is.
    Healthcheck {
        /// Base URL of the server; defaults to the configured listen address.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    alloc::return_freed_memory_at_once();
    alloc::disable_huge_pages();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = config::Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.database.url = Some(url);
    }
    let data_dir_given = cli.data_dir.is_some();
    let data_dir = cli.data_dir.unwrap_or_else(config::default_data_dir);
    // An absolute path in logs and messages shows which database is used
    // when commands run from different directories.
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    let ctx = commands::Context { config, data_dir };
    match cli.command {
        Command::Serve { listen } => commands::serve(ctx, listen).await,
        Command::Tenant(command) => commands::tenant(ctx, command).await,
        Command::ScimToken(command) => commands::scim_token(ctx, command).await,
        Command::OAuthClient(command) => commands::oauth_client(ctx, command).await,
        Command::ProvisioningLog(args) => commands::provisioning_log(ctx, args).await,
        Command::AdminToken(command) => commands::admin_token(ctx, command).await,
        Command::DeviceToken(command) => commands::device_token(ctx, command).await,
        Command::Audit(command) => audit::audit(ctx, command).await,
        Command::BreakGlass(command) => break_glass::break_glass(ctx, command).await,
        Command::Import(args) => import::import(ctx, args).await,
        Command::Demo(args) => demo::demo(ctx, data_dir_given, args).await,
        Command::Healthcheck { url } => commands::healthcheck(ctx, url).await,
    }
}
