//! SCIM credentials: long-lived secret tokens, OAuth 2.0 clients
//! (client-credentials grant, RFC 6749 §4.4) and the access tokens they get.

use std::time::Duration;

use lockgate_domain::timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::secret::{Secret, hash_secret};
use crate::{Store, StoreError};

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
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO credentials (id, tenant_id, kind, secret_hash, client_id, parent_id, scope, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&info.id)
        .bind(tenant_id)
        .bind(kind.as_str())
        .bind(secret.hash())
        .bind(client_id)
        .bind(parent_id)
        .bind(scope)
        .bind(&info.created_at)
        .bind(&info.expires_at)
        .execute(&self.writer)
        .await?;
        drop(turn);
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
        let turn = self.write_turn().await?;
        let mut tx = self.writer.begin().await?;
        // `active` is newest first: keep the first for the grace period.
        for (i, info) in active.iter().enumerate() {
            let (column, value) = if i == 0 {
                let until = later(grace);
                let until = match &info.expires_at {
                    Some(existing) if *existing < until => existing.clone(),
                    _ => until,
                };
                ("expires_at", until)
            } else {
                ("revoked_at", now.clone())
            };
            let sql =
                format!("UPDATE credentials SET {column} = $1 WHERE tenant_id = $2 AND id = $3");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .bind(tenant_id)
                .bind(&info.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        drop(turn);
        self.credential_cache.clear();
        self.create_scim_token(tenant_id).await
    }

    /// Revokes one credential of the tenant; access tokens of a revoked OAuth
    /// client stop working too.
    pub async fn revoke_credential(
        &self,
        tenant_id: &str,
        credential_id: &str,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        let result = sqlx::query(
            "UPDATE credentials SET revoked_at = $1 \
             WHERE tenant_id = $2 AND (id = $3 OR client_id = $3 OR parent_id = $3) AND revoked_at IS NULL",
        )
        .bind(timestamp::now())
        .bind(tenant_id)
        .bind(credential_id)
        .execute(&self.writer)
        .await?;
        drop(turn);
        self.credential_cache.clear();
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "active credential \"{credential_id}\" of this tenant (list them with `lockgate scim-token list TENANT`)"
            )));
        }
        Ok(())
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
