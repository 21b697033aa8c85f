//! SCIM credentials: long-lived secret tokens, OAuth 2.0 clients
//! (client-credentials grant, RFC 6749 §4.4) and the access tokens they get.

use std::time::Duration;

use lockgate_domain::timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use lockgate_domain::audit::Actor;
use serde_json::json;

use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, opt, text};
use crate::secret::{Secret, hash_secret};
use crate::write_tx::WriteTx;
use crate::{Store, StoreError};

/// Builds the audit record of a credential change. The `lockgate` CLI
/// makes these changes (tests and the demo call the store directly): it
/// runs on the server's host with access to its database.
fn cli_audit(action: &str, credential_id: &str, detail: serde_json::Value) -> AuditDraft {
    let actor = Actor::Admin("cli".to_string());
    AuditDraft {
        source: AuditDraft::admin_source(&actor),
        actor,
        action: action.to_string(),
        subject: credential_id.to_string(),
        detail,
    }
}

/// Adds the insert of a new credential to `batch` and its audit record to
/// `audit`, and returns the credential as stored.
fn push_credential(
    batch: &mut Batch,
    audit: &mut Vec<AuditDraft>,
    tenant_id: &str,
    secret: &Secret,
    new: NewCredential<'_>,
) -> CredentialInfo {
    let NewCredential {
        kind,
        client_id,
        parent_id,
        scope,
        expires_at,
    } = new;
    let info = CredentialInfo {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_string(),
        kind,
        client_id: client_id.map(str::to_string),
        scope: scope.map(str::to_string),
        created_at: timestamp::now(),
        expires_at,
        revoked_at: None,
    };
    batch.push(
        "INSERT INTO credentials (id, tenant_id, kind, secret_hash, client_id, parent_id, scope, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            text(&info.id),
            text(tenant_id),
            text(kind.as_str()),
            text(secret.hash()),
            opt(client_id),
            opt(parent_id),
            opt(scope),
            text(&info.created_at),
            opt(info.expires_at.as_deref()),
        ],
    );
    // Access tokens come and go with every token request of an audited
    // OAuth client, so only the credentials an operator makes are audited.
    if kind != CredentialKind::AccessToken {
        let detail = json!({
            "kind": kind.as_str(),
            "client_id": info.client_id,
            "scope": info.scope,
            "expires_at": info.expires_at,
        });
        audit.push(cli_audit("credential_created", &info.id, detail));
    }
    info
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    ScimToken,
    #[serde(rename = "oauth_client")]
    OAuthClient,
    AccessToken,
    /// Admin API access for one tenant.
    AdminToken,
    /// A locker bank controller; its scope is the bank.
    DeviceToken,
}

impl CredentialKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CredentialKind::ScimToken => "scim_token",
            CredentialKind::OAuthClient => "oauth_client",
            CredentialKind::AccessToken => "access_token",
            CredentialKind::AdminToken => "admin_token",
            CredentialKind::DeviceToken => "device_token",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "scim_token" => Ok(CredentialKind::ScimToken),
            "oauth_client" => Ok(CredentialKind::OAuthClient),
            "access_token" => Ok(CredentialKind::AccessToken),
            "admin_token" => Ok(CredentialKind::AdminToken),
            "device_token" => Ok(CredentialKind::DeviceToken),
            other => Err(StoreError::Corrupt(format!(
                "unknown credential kind {other:?}"
            ))),
        }
    }
}

/// A credential as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialInfo {
    pub id: String,
    pub tenant_id: String,
    pub kind: CredentialKind,
    pub client_id: Option<String>,
    /// The bank of a device token.
    pub scope: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// The credential a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub tenant_id: String,
    pub credential_id: String,
    pub kind: CredentialKind,
    /// The bank of a device token.
    pub scope: Option<String>,
}

#[derive(Debug)]
pub struct OAuthClient {
    pub info: CredentialInfo,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_in: Duration,
}

const SCIM_TOKEN_PREFIX: &str = "lgs_";
const CLIENT_SECRET_PREFIX: &str = "lgc_";
const ACCESS_TOKEN_PREFIX: &str = "lga_";
const ADMIN_TOKEN_PREFIX: &str = "lgadm_";
const DEVICE_TOKEN_PREFIX: &str = "lgd_";

fn info_from_row(row: &AnyRow) -> Result<CredentialInfo, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(CredentialInfo {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        kind: CredentialKind::parse(&kind)?,
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// The columns of a new credential besides its tenant and secret.
struct NewCredential<'a> {
    kind: CredentialKind,
    client_id: Option<&'a str>,
    parent_id: Option<&'a str>,
    scope: Option<&'a str>,
    expires_at: Option<String>,
}

impl NewCredential<'_> {
    fn of(kind: CredentialKind) -> Self {
        NewCredential {
            kind,
            client_id: None,
            parent_id: None,
            scope: None,
            expires_at: None,
        }
    }
}

fn later(duration: Duration) -> String {
    timestamp::format(OffsetDateTime::now_utc() + duration)
}

impl Store {
    async fn insert_credential(
        &self,
        tenant_id: &str,
        secret: &Secret,
        new: NewCredential<'_>,
    ) -> Result<CredentialInfo, StoreError> {
        let mut batch = Batch::default();
        let mut audit = Vec::new();
        let info = push_credential(&mut batch, &mut audit, tenant_id, secret, new);
        self.write_with_audit(tenant_id, batch, audit).await?;
        Ok(info)
    }

    /// Creates a long-lived SCIM secret token. The secret is returned once.
    pub async fn create_scim_token(
        &self,
        tenant_id: &str,
    ) -> Result<(CredentialInfo, Secret), StoreError> {
        let secret = Secret::generate(SCIM_TOKEN_PREFIX);
        let info = self
            .insert_credential(
                tenant_id,
                &secret,
                NewCredential::of(CredentialKind::ScimToken),
            )
            .await?;
        Ok((info, secret))
    }

    /// Creates a new SCIM token while the newest existing one stays valid for
    /// `grace`, so the IdP can be switched to the new token without a gap.
    /// Any older tokens are revoked now: at most two are valid at once.
    pub async fn rotate_scim_token(
        &self,
        tenant_id: &str,
        grace: Duration,
    ) -> Result<(CredentialInfo, Secret), StoreError> {
        let active = self
            .active_credentials(tenant_id, CredentialKind::ScimToken)
            .await?;
        let now = timestamp::now();
        let mut batch = Batch::default();
        let mut kept_token = None;
        let mut revoked = Vec::new();
        // `active` is newest first: keep the first for the grace period.
        for (i, info) in active.iter().enumerate() {
            let (column, value) = if i == 0 {
                let until = later(grace);
                let until = match &info.expires_at {
                    Some(existing) if *existing < until => existing.clone(),
                    _ => until,
                };
                kept_token = Some(json!({"id": info.id, "valid_until": until}));
                ("expires_at", until)
            } else {
                revoked.push(info.id.clone());
                ("revoked_at", now.clone())
            };
            batch.push(
                format!("UPDATE credentials SET {column} = $1 WHERE tenant_id = $2 AND id = $3"),
                vec![text(value), text(tenant_id), text(&info.id)],
            );
        }
        let detail = json!({"kept": kept_token, "revoked": revoked});
        let mut audit = vec![cli_audit("scim_token_rotated", tenant_id, detail)];
        // The new token is created in the same transaction, so the log never
        // shows a rotation whose new token is missing.
        let secret = Secret::generate(SCIM_TOKEN_PREFIX);
        let new = NewCredential::of(CredentialKind::ScimToken);
        let info = push_credential(&mut batch, &mut audit, tenant_id, &secret, new);
        let written = self.write_with_audit(tenant_id, batch, audit).await;
        self.credential_cache.clear();
        written?;
        Ok((info, secret))
    }

    /// Revokes one credential of the tenant; access tokens of a revoked OAuth
    /// client stop working too.
    pub async fn revoke_credential(
        &self,
        tenant_id: &str,
        credential_id: &str,
    ) -> Result<(), StoreError> {
        let actor = Actor::Admin("cli".to_string());
        let revoked = self
            .revoke_as(tenant_id, credential_id, None, actor)
            .await?;
        if !revoked {
            return Err(StoreError::NotFound(format!(
                "active credential \"{credential_id}\" of this tenant (list them with `lockgate scim-token list TENANT`)"
            )));
        }
        Ok(())
    }

    /// Revokes a device token of the tenant for an administrator. Returns
    /// `NotFound` for an id that is no active device token of the tenant,
    /// so this route cannot revoke other kinds of credentials.
    pub async fn revoke_device_token(
        &self,
        tenant_id: &str,
        credential_id: &str,
        actor: Actor,
    ) -> Result<(), StoreError> {
        let kind = Some(CredentialKind::DeviceToken);
        if !self
            .revoke_as(tenant_id, credential_id, kind, actor)
            .await?
        {
            return Err(StoreError::NotFound(format!(
                "active device token \"{credential_id}\" (GET /device-tokens lists them)"
            )));
        }
        Ok(())
    }

    /// Revokes a credential, of `kind` when given, and its dependants, with
    /// an audit record by `actor`. Returns whether anything was revoked.
    async fn revoke_as(
        &self,
        tenant_id: &str,
        credential_id: &str,
        kind: Option<CredentialKind>,
        actor: Actor,
    ) -> Result<bool, StoreError> {
        let (store, tenant, id) = (
            self.clone(),
            tenant_id.to_string(),
            credential_id.to_string(),
        );
        let kind = kind.map(|kind| kind.as_str().to_string());
        let revoked = self
            .run_write(move || async move {
                let mut tx = WriteTx::begin(&store).await?;
                // The credential's kind is checked on the row the id names,
                // before anything is revoked.
                if let Some(kind) = &kind {
                    let found = tx
                        .fetch_optional(
                            "SELECT 1 AS found FROM credentials WHERE tenant_id = $1 \
                             AND id = $2 AND kind = $3 AND revoked_at IS NULL",
                            vec![text(&tenant), text(&id), text(kind)],
                        )
                        .await?;
                    if found.is_none() {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                }
                // The rows the update returns, not a count read before it,
                // so of two revokes at once only the one that changed
                // something writes a record.
                let rows = tx
                    .write_returning(
                        "UPDATE credentials SET revoked_at = $3 WHERE tenant_id = $1 \
                         AND (id = $2 OR client_id = $2 OR parent_id = $2) AND revoked_at IS NULL \
                         RETURNING id, kind, scope",
                        vec![text(&tenant), text(&id), text(timestamp::now())],
                    )
                    .await?;
                if rows.is_empty() {
                    tx.rollback().await?;
                    return Ok(false);
                }
                let named = rows
                    .iter()
                    .find(|row| row.try_get::<String>("id").ok().as_deref() == Some(id.as_str()));
                let mut detail = json!({"credentials": rows.len()});
                if let Some(row) = named {
                    detail["kind"] = json!(row.try_get::<String>("kind")?);
                    detail["scope"] = json!(row.try_get::<Option<String>>("scope")?);
                }
                let audit = AuditDraft {
                    source: AuditDraft::admin_source(&actor),
                    actor,
                    action: "credential_revoked".to_string(),
                    subject: id.clone(),
                    detail,
                };
                append_in(&mut tx, store.backend, &tenant, vec![audit]).await?;
                tx.commit().await?;
                Ok(true)
            })
            .await;
        self.credential_cache.clear();
        revoked
    }

    /// Lists SCIM tokens and OAuth clients of a tenant, newest first.
    pub async fn list_credentials(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<CredentialInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, client_id, scope, created_at, expires_at, revoked_at FROM credentials \
             WHERE tenant_id = $1 AND kind <> 'access_token' ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    async fn active_credentials(
        &self,
        tenant_id: &str,
        kind: CredentialKind,
    ) -> Result<Vec<CredentialInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, client_id, scope, created_at, expires_at, revoked_at FROM credentials \
             WHERE tenant_id = $1 AND kind = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(timestamp::now())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(info_from_row).collect()
    }

    /// Creates a token for the tenant's admin API. The secret is returned once.
    pub async fn create_admin_token(
        &self,
        tenant_id: &str,
    ) -> Result<(CredentialInfo, Secret), StoreError> {
        let secret = Secret::generate(ADMIN_TOKEN_PREFIX);
        let kind = CredentialKind::AdminToken;
        let info = self
            .insert_credential(tenant_id, &secret, NewCredential::of(kind))
            .await?;
        Ok((info, secret))
    }

    /// Creates a token for the controller of `bank_id`. The secret is
    /// returned once.
    pub async fn create_device_token(
        &self,
        tenant_id: &str,
        bank_id: &str,
    ) -> Result<(CredentialInfo, Secret), StoreError> {
        let secret = Secret::generate(DEVICE_TOKEN_PREFIX);
        let kind = CredentialKind::DeviceToken;
        let info = self
            .insert_credential(
                tenant_id,
                &secret,
                NewCredential {
                    scope: Some(bank_id),
                    ..NewCredential::of(kind)
                },
            )
            .await?;
        Ok((info, secret))
    }

    /// Creates an OAuth 2.0 client for the tenant's token endpoint.
    pub async fn create_oauth_client(&self, tenant_id: &str) -> Result<OAuthClient, StoreError> {
        let client_id = format!("lgcid_{}", uuid::Uuid::new_v4().simple());
        let client_secret = Secret::generate(CLIENT_SECRET_PREFIX);
        let info = self
            .insert_credential(
                tenant_id,
                &client_secret,
                NewCredential {
                    client_id: Some(&client_id),
                    ..NewCredential::of(CredentialKind::OAuthClient)
                },
            )
            .await?;
        Ok(OAuthClient {
            info,
            client_id,
            client_secret,
        })
    }

    /// Runs the client-credentials grant: checks the client of this tenant
    /// and issues an access token valid for `lifetime`. `None` means the
    /// client is unknown, revoked or the secret is wrong. Callers return
    /// `invalid_client` without saying which (RFC 6749 §5.2).
    pub async fn issue_access_token(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &str,
        lifetime: Duration,
    ) -> Result<Option<AccessToken>, StoreError> {
        let row = sqlx::query(
            "SELECT id, secret_hash FROM credentials \
             WHERE tenant_id = $1 AND client_id = $2 AND kind = 'oauth_client' AND revoked_at IS NULL",
        )
        .bind(tenant_id)
        .bind(client_id)
        .fetch_optional(&self.reader)
        .await?;
        let presented = hash_secret(client_secret);
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("secret_hash")?;
        if !bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
            return Ok(None);
        }
        let parent: String = row.try_get("id")?;
        let token = Secret::generate(ACCESS_TOKEN_PREFIX);
        self.insert_credential(
            tenant_id,
            &token,
            NewCredential {
                parent_id: Some(&parent),
                expires_at: Some(later(lifetime)),
                ..NewCredential::of(CredentialKind::AccessToken)
            },
        )
        .await?;
        Ok(Some(AccessToken {
            token,
            expires_in: lifetime,
        }))
    }

    /// Deletes access tokens that expired before `before` (a stored timestamp).
    pub async fn delete_expired_access_tokens(&self, before: &str) -> Result<u64, StoreError> {
        let turn = self.write_turn().await?;
        let result =
            sqlx::query("DELETE FROM credentials WHERE kind = 'access_token' AND expires_at < $1")
                .bind(before)
                .execute(&self.writer)
                .await?;
        drop(turn);
        Ok(result.rows_affected())
    }
}
