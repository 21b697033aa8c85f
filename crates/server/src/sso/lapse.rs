//! Lapse in SSO-only mode: without SCIM, Lockgate never hears that someone
//! left, so a user who has not signed in for the tenant's `lapse_days` is
//! disabled as if the identity provider had said so.

use lockgate_store::WriteContext;
use serde_json::Value;

use super::connection::{ConnectionSettings, Mode};
use crate::AppState;

/// Checks every tenant now and then, until the task is aborted.
pub(crate) fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(state.config.lapse_check_interval).await;
            if let Err(error) = run_once(&state).await {
                tracing::error!(%error, "checking lapsed sign-ins failed");
            }
        }
    })
}

async fn run_once(state: &AppState) -> Result<(), lockgate_store::StoreError> {
    for tenant in state.store.list_tenants().await? {
        let Some((value, _)) = state.store.identity_connection(&tenant.id).await? else {
            continue;
        };
        let Ok(settings) = serde_json::from_value::<ConnectionSettings>(value) else {
            continue;
        };
        if settings.mode != Mode::SsoOnly {
            continue;
        }
        let before = lockgate_domain::timestamp::format(
            state.access.now() - time::Duration::days(i64::from(settings.lapse_days)),
        );
        let lapsed = state
            .store
            .users_signed_in_before(&tenant.id, &before)
            .await?;
        let store = state.store.tenant(&tenant.id);
        let ctx = WriteContext {
            request_id: Some("sign-in-lapse".to_string()),
        };
        for user in lapsed {
            let disabled = store
                .update_user(&ctx, &user, |current| {
                    let mut document = current.clone();
                    document["active"] = Value::Bool(false);
                    Ok(document)
                })
                .await;
            match disabled {
                Ok(stored) => {
                    tracing::info!(tenant = %tenant.slug, user, "access lapsed after no sign-in");
                    state
                        .access
                        .user_disabled(&tenant.id, &user, stored.version, false);
                }
                Err(error) => {
                    tracing::error!(tenant = %tenant.slug, user, %error, "disabling a lapsed user failed")
                }
            }
        }
    }
    Ok(())
}
