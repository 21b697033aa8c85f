//! The subcommands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use lockgate_domain::Slug;
use lockgate_server::App;
use lockgate_store::{
    CredentialKind, LogQuery, ServerClaim, Store, StoreError, StoreOptions, Tenant,
};
use serde_json::json;

use crate::config::Config;

pub struct Context {
    pub config: Config,
    pub data_dir: PathBuf,
}

impl Context {
    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.config.database_url(&self.data_dir),
            max_connections: self.config.database.max_connections,
            sqlite_synchronous: self.config.database.sqlite_synchronous.clone(),
        }
    }

    pub(crate) async fn store(&self) -> Result<Store> {
        let options = self.store_options();
        Store::connect(&options)
            .await
            .with_context(|| cannot_open(&options))
    }

    /// Opens the database for a server and claims it, so that a second
    /// server on the same database stops before it migrates or serves.
    pub(crate) async fn server_store(&self) -> Result<(Store, ServerClaim)> {
        let options = self.store_options();
        match Store::connect_server(&options, lockgate_server::CLAIM_WAIT).await {
            Ok(opened) => Ok(opened),
            // The message names the other server and the fix on its own.
            Err(conflict @ StoreError::Conflict(_)) => Err(conflict.into()),
            Err(e) => Err(anyhow::Error::new(e).context(cannot_open(&options))),
        }
    }

    /// Opens a database that must already exist at the default path under
    /// `--data-dir`. Only `serve`, `tenant create` and the demo create one
    /// there. Any other command run outside the server's data directory
    /// would otherwise leave an empty database behind and then report a
    /// missing tenant. An explicit database URL is opened as given.
    pub(crate) async fn existing_store(&self) -> Result<Store> {
        if self.config.database.url.is_none() {
            let path = self.data_dir.join("lockgate.db");
            if !path.exists() {
                anyhow::bail!(
                    "no Lockgate database at {}; pass --data-dir, --database-url or --config \
                     to point at the server's data, or create a tenant first with \
                     `lockgate tenant create`",
                    path.display()
                );
            }
        }
        self.store().await
    }

    pub(crate) async fn tenant(&self, store: &Store, slug: &str) -> Result<Tenant> {
        store.tenant_by_slug(slug).await?.with_context(|| {
            format!("tenant {slug:?} not found; list tenants with `lockgate tenant list`")
        })
    }

    /// Returns the SCIM base URL to give Entra, with a note on standard
    /// error when it falls back to the listen address, which Entra cannot
    /// reach.
    fn scim_base_url(&self, slug: &str) -> String {
        if self.config.server.public_url.is_none() {
            eprintln!(
                "note: server.public_url is not set, so these URLs use the listen address {}; \
                 set LOCKGATE_SERVER__PUBLIC_URL (or public_url under [server] in the config \
                 file) to the HTTPS address Entra reaches",
                self.config.server.listen
            );
        }
        format!("{}/scim/v2/{slug}", self.config.public_base())
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn serve(mut ctx: Context, listen: Option<SocketAddr>) -> Result<ExitCode> {
    if let Some(listen) = listen {
        ctx.config.server.listen = listen;
    }
    init_logging(&ctx.config);
    let (store, claim) = ctx.server_store().await?;
    let listener = tokio::net::TcpListener::bind(ctx.config.server.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pick another with --listen",
                ctx.config.server.listen
            )
        })?;
    // With port 0 the system picks the port, so the log and the server's
    // own URLs name the address actually bound.
    ctx.config.server.listen = listener
        .local_addr()
        .context("failed to read the address the server listens on")?;
    tracing::info!(
        listen = %ctx.config.server.listen,
        database = %lockgate_store::redact_url(&ctx.config.database_url(&ctx.data_dir)),
        backend = ?store.backend(),
        "lockgate serving"
    );
    let app = App::new(store, ctx.config.server_config()).with_claim(claim);
    app.serve(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

fn cannot_open(options: &StoreOptions) -> String {
    format!(
        "cannot open the database {}",
        lockgate_store::redact_url(&options.url)
    )
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining requests");
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant with its first SCIM secret token and admin token.
    Create {
        /// Short name used in URLs, such as st-marys.
        slug: String,
        /// Print JSON (keys tenant, scim_base_url, scim_token, scim_token_id,
        /// admin_token, admin_token_id) for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List,
}

pub async fn tenant(ctx: Context, command: TenantCommand) -> Result<ExitCode> {
    let store = match &command {
        TenantCommand::Create { .. } => ctx.store().await?,
        _ => ctx.existing_store().await?,
    };
    match command {
        TenantCommand::Create { slug, json } => {
            let slug = Slug::parse(&slug)?;
            let tenant = store.create_tenant(&slug).await?;
            let (info, secret) = store.create_scim_token(&tenant.id).await?;
            let (admin_info, admin_secret) = store.create_admin_token(&tenant.id).await?;
            let base = ctx.scim_base_url(slug.as_str());
            if json {
                let out = json!({
                    "tenant": slug.as_str(),
                    "scim_base_url": base,
                    "scim_token": secret.expose(),
                    "scim_token_id": info.id,
                    "admin_token": admin_secret.expose(),
                    "admin_token_id": admin_info.id,
                });
                println!("{out}");
            } else {
                println!("Created tenant {slug}.");
                println!("Tenant URL (SCIM base URL): {base}");
                println!("Secret Token: {}", secret.expose());
                println!("Admin token: {}", admin_secret.expose());
                println!("The tokens are shown once because Lockgate keeps only their hashes.");
            }
        }
        TenantCommand::List => {
            for tenant in store.list_tenants().await? {
                println!("{}\t{}\t{}", tenant.slug, tenant.id, tenant.created_at);
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum ScimTokenCommand {
    /// Create an additional SCIM secret token.
    Create {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Create a new token; the newest old one stays valid for a grace period.
    Rotate {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Hours the previous token stays valid; defaults to scim.token_rotation_grace_hours.
        #[arg(long, value_name = "HOURS")]
        grace_hours: Option<u64>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (or OAuth client) by id.
    Revoke {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Token id, as shown by `lockgate scim-token list`.
        id: String,
    },
    /// List tokens and OAuth clients; secrets are never shown.
    List {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
    },
}

/// Prints a new token, which is shown only once: `fields` as one JSON
/// object with `--json`, else the id and the token after `label`.
fn print_secret(json: bool, fields: serde_json::Value, label: &str, id: &str, token: &str) {
    if json {
        println!("{fields}");
    } else {
        println!("Token id: {id}");
        println!("{label}: {token}");
        println!("The token is shown once; Lockgate keeps only its hash.");
    }
}

fn print_scim_secret(json: bool, base: &str, id: &str, token: &str) {
    let fields = json!({"scim_base_url": base, "scim_token": token, "scim_token_id": id});
    print_secret(json, fields, "Secret Token", id, token);
}

/// Prints the tenant's credentials of `kinds` as JSON lines, newest first.
async fn print_credentials(store: &Store, tenant_id: &str, kinds: &[CredentialKind]) -> Result<()> {
    for credential in store.list_credentials(tenant_id).await? {
        if kinds.contains(&credential.kind) {
            println!("{}", serde_json::to_string(&credential)?);
        }
    }
    Ok(())
}

/// Revokes credential `id` after checking that it is a `kind` credential of
/// the tenant, so that `admin-token revoke` cannot revoke a SCIM token or
/// a device token by mistake.
async fn revoke_of_kind(
    store: &Store,
    tenant_id: &str,
    kind: CredentialKind,
    command: &str,
    id: &str,
) -> Result<()> {
    let credentials = store.list_credentials(tenant_id).await?;
    let Some(found) = credentials.iter().find(|c| c.id == id && c.kind == kind) else {
        anyhow::bail!(
            "{command} {id:?} not found in this tenant. List them with `lockgate {command} list TENANT`."
        );
    };
    if let Some(at) = &found.revoked_at {
        anyhow::bail!("{command} {id:?} was already revoked at {at}.");
    }
    store.revoke_credential(tenant_id, id).await?;
    println!("Revoked {id}.");
    Ok(())
}

pub async fn scim_token(ctx: Context, command: ScimTokenCommand) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    match command {
        ScimTokenCommand::Create { tenant, json } => {
            let t = ctx.tenant(&store, &tenant).await?;
            let (info, secret) = store.create_scim_token(&t.id).await?;
            print_scim_secret(json, &ctx.scim_base_url(&tenant), &info.id, secret.expose());
        }
        ScimTokenCommand::Rotate {
            tenant,
            grace_hours,
            json,
        } => {
            let t = ctx.tenant(&store, &tenant).await?;
            let hours = grace_hours.unwrap_or(ctx.config.scim.token_rotation_grace_hours);
            let (info, secret) = store
                .rotate_scim_token(&t.id, Duration::from_secs(hours * 3600))
                .await?;
            print_scim_secret(json, &ctx.scim_base_url(&tenant), &info.id, secret.expose());
            if !json {
                println!(
                    "The previous token stays valid for {hours} hours; revoke it sooner with `lockgate scim-token revoke`."
                );
            }
        }
        ScimTokenCommand::Revoke { tenant, id } => {
            let t = ctx.tenant(&store, &tenant).await?;
            store.revoke_credential(&t.id, &id).await?;
            println!("Revoked {id}.");
        }
        ScimTokenCommand::List { tenant } => {
            let t = ctx.tenant(&store, &tenant).await?;
            let kinds = [CredentialKind::ScimToken, CredentialKind::OAuthClient];
            print_credentials(&store, &t.id, &kinds).await?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum AdminTokenCommand {
    /// Create a token for the tenant's admin API, which gives full control of the tenant.
    Create {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Print JSON (keys admin_token, id) for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin token by id.
    Revoke {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Token id, as shown by `lockgate admin-token list`.
        id: String,
    },
    /// List admin tokens without their secrets.
    List {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
    },
}

pub async fn admin_token(ctx: Context, command: AdminTokenCommand) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    let kind = CredentialKind::AdminToken;
    match command {
        AdminTokenCommand::Create { tenant, json } => {
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            let (info, secret) = store.create_admin_token(&tenant_record.id).await?;
            let token = secret.expose();
            let fields = json!({"admin_token": token, "id": info.id});
            print_secret(json, fields, "Admin token", &info.id, token);
        }
        AdminTokenCommand::Revoke { tenant, id } => {
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            revoke_of_kind(&store, &tenant_record.id, kind, "admin-token", &id).await?;
        }
        AdminTokenCommand::List { tenant } => {
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            print_credentials(&store, &tenant_record.id, &[kind]).await?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum DeviceTokenCommand {
    /// Create a token for the controller of one locker bank.
    Create {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Id of the bank whose controller uses the token.
        #[arg(long, value_name = "BANK")]
        bank: String,
        /// Print JSON (keys device_token, id) for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device token by id.
    Revoke {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Token id, as shown by `lockgate device-token list`.
        id: String,
    },
    /// List device tokens and their banks (the `scope` key) without their secrets.
    List {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
    },
}

pub async fn device_token(ctx: Context, command: DeviceTokenCommand) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    let kind = CredentialKind::DeviceToken;
    match command {
        DeviceTokenCommand::Create { tenant, bank, json } => {
            if bank.trim().is_empty() {
                anyhow::bail!("--bank is empty. Give the id of the locker bank.");
            }
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            // Setup scripts issue tokens before they import the banks, so a
            // missing bank is only a warning. The token opens nothing until
            // a bank with this id exists.
            let banks = store.tenant(&tenant_record.id).list_banks(None).await?;
            if !banks.iter().any(|known| known.id.as_str() == bank) {
                eprintln!(
                    "warning: bank {bank:?} not found in tenant {tenant:?}; the token works \
                     once a bank with this id exists. Check the id with \
                     GET /admin/v1/tenants/{tenant}/banks"
                );
            }
            let (info, secret) = store.create_device_token(&tenant_record.id, &bank).await?;
            let token = secret.expose();
            let fields = json!({"device_token": token, "id": info.id});
            print_secret(json, fields, "Device token", &info.id, token);
        }
        DeviceTokenCommand::Revoke { tenant, id } => {
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            revoke_of_kind(&store, &tenant_record.id, kind, "device-token", &id).await?;
        }
        DeviceTokenCommand::List { tenant } => {
            let tenant_record = ctx.tenant(&store, &tenant).await?;
            print_credentials(&store, &tenant_record.id, &[kind]).await?;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum OAuthClientCommand {
    /// Create a client for Entra's OAuth 2.0 client-credentials option.
    Create {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client and every access token it obtained.
    Revoke {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Client id, as printed by `lockgate oauth-client create`.
        client_id: String,
    },
}

pub async fn oauth_client(ctx: Context, command: OAuthClientCommand) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    match command {
        OAuthClientCommand::Create { tenant, json } => {
            let t = ctx.tenant(&store, &tenant).await?;
            let client = store.create_oauth_client(&t.id).await?;
            let token_url = format!("{}/oauth/{tenant}/token", ctx.config.public_base());
            if json {
                let out = json!({
                    "scim_base_url": ctx.scim_base_url(&tenant),
                    "token_url": token_url,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret.expose(),
                });
                println!("{out}");
            } else {
                println!("Tenant URL: {}", ctx.scim_base_url(&tenant));
                println!("Token endpoint: {token_url}");
                println!("Client id: {}", client.client_id);
                println!("Client secret: {}", client.client_secret.expose());
                println!("The secret is shown once; Lockgate keeps only its hash.");
            }
        }
        OAuthClientCommand::Revoke { tenant, client_id } => {
            let t = ctx.tenant(&store, &tenant).await?;
            store.revoke_credential(&t.id, &client_id).await?;
            println!("Revoked {client_id}.");
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct LogArgs {
    /// Tenant slug, as given to `lockgate tenant create`.
    tenant: String,
    /// Only failed requests.
    #[arg(long)]
    failures: bool,
    /// Only requests about this resource id.
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// Maximum entries to show (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
    limit: i64,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

pub async fn provisioning_log(ctx: Context, args: LogArgs) -> Result<ExitCode> {
    let store = ctx.existing_store().await?;
    let tenant = ctx.tenant(&store, &args.tenant).await?;
    let query = LogQuery {
        failures_only: args.failures,
        resource_id: args.resource,
        before_seq: None,
        limit: args.limit,
    };
    for entry in store.tenant(&tenant.id).provisioning_log(&query).await? {
        if args.json {
            println!("{}", serde_json::to_string(&entry)?);
        } else {
            println!(
                "{} {} {} {} {} {} {}{}",
                entry.at,
                entry.status,
                entry.operation,
                entry.method,
                entry.path,
                entry.resource_id.as_deref().unwrap_or("-"),
                entry.duration_us / 1000,
                entry
                    .error
                    .map(|e| format!("ms  {}: {e}", entry.scim_type.unwrap_or_default()))
                    .unwrap_or_else(|| "ms".into()),
            );
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn healthcheck(ctx: Context, url: Option<String>) -> Result<ExitCode> {
    let base = url.unwrap_or_else(|| format!("http://{}", ctx.config.server.listen));
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        anyhow::bail!("--url {base:?} needs a scheme, such as http://{base}");
    }
    let target = format!("{}/readyz", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    match client.get(&target).send().await {
        Ok(response) if response.status().is_success() => {
            println!("ready: {target}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            eprintln!("not ready: {target} returned {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            // reqwest's top-level message omits the cause, such as a refused connection.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("not ready: {target}: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}
