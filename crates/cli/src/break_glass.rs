//! `lockgate break-glass create`: the only way to create an emergency
//! account, so that no web session can add one.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::json;

use crate::commands::Context;

#[derive(Subcommand)]
pub enum BreakGlassCommand {
    /// Create a local emergency admin account with a generated password
    /// and a TOTP secret; both are printed once.
    Create {
        /// Tenant slug, as given to `lockgate tenant create`.
        tenant: String,
        /// Account name, 1 to 64 letters, digits, '-', '_' or '.'.
        username: String,
        /// Print JSON (keys username, password, totp_secret, otpauth_url, sign_in_url).
        #[arg(long)]
        json: bool,
    },
}

pub async fn break_glass(ctx: Context, command: BreakGlassCommand) -> Result<ExitCode> {
    let BreakGlassCommand::Create {
        tenant,
        username,
        json,
    } = command;
    let store = ctx.existing_store().await?;
    let tenant_record = ctx.tenant(&store, &tenant).await?;
    let created = lockgate_server::create_break_glass(&store, &tenant_record, &username)
        .await
        .map_err(|e| anyhow!(e))?;
    let sign_in_url = format!(
        "{}/auth/{}/break-glass",
        ctx.config.public_base(),
        tenant_record.slug
    );
    if json {
        let fields = json!({
            "username": username,
            "password": created.password.expose(),
            "totp_secret": created.totp_secret.expose(),
            "otpauth_url": created.otpauth_url,
            "sign_in_url": sign_in_url,
        });
        println!("{fields}");
    } else {
        println!("Break-glass account {username} created for tenant {tenant}.");
        println!("Password:     {}", created.password.expose());
        println!("TOTP secret:  {}", created.totp_secret.expose());
        println!("otpauth URL:  {}", created.otpauth_url);
        println!("Sign in at:   {sign_in_url}");
        println!();
        println!(
            "Store the password and the TOTP secret apart, offline: neither is shown again. \
             Every use is audited and announced to the tenant's admins."
        );
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
