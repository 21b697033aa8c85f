//! Mobile app tokens: authorization codes, short-lived access tokens and
//! rotating refresh tokens. Secrets are stored as SHA-256 hashes only.

use lockgate_domain::timestamp;
use sqlx::Row;
use time::OffsetDateTime;

use crate::secret::{Secret, hash_secret};
use crate::{Store, StoreError};

const CODE_PREFIX: &str = "lgac_";
const ACCESS_PREFIX: &str = "lgat_";
const REFRESH_PREFIX: &str = "lgrt_";

/// An authorization code as issued to the app.
#[derive(Debug, Clone)]
pub struct AppCode {
    pub tenant_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub auth_contexts: Vec<String>,
    pub created_at: String,
}

/// A fresh access and refresh token pair, shown once.
#[derive(Debug)]
pub struct AppTokens {
    pub access_token: Secret,
    pub access_hash: String,
    pub refresh_token: Secret,
    pub access_expires_at: String,
    /// Authentication contexts the sign-in behind the tokens satisfied.
    pub auth_contexts: Vec<String>,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum RefreshOutcome {
    Rotated {
        user_id: String,
        tokens: AppTokens,
    },
    /// The token was used before: its family is now revoked (RFC 9700
    /// §4.14.2), because either the app or a thief holds a copy.
    Reused,
    Invalid,
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

impl Store {
    pub async fn create_app_code(&self, code: &AppCode) -> Result<Secret, StoreError> {
        let secret = Secret::generate(CODE_PREFIX);
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO app_codes (code_hash, tenant_id, user_id, redirect_uri, code_challenge, auth_contexts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(secret.hash())
        .bind(&code.tenant_id)
        .bind(&code.user_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(json_list(&code.auth_contexts))
        .bind(&code.created_at)
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(secret)
    }

    /// Takes a code out of the store, so it can be redeemed once.
    pub async fn take_app_code(
        &self,
        tenant_id: &str,
        code: &str,
    ) -> Result<Option<AppCode>, StoreError> {
        let turn = self.write_turn().await?;
        let row = sqlx::query(
            "DELETE FROM app_codes WHERE code_hash = $1 AND tenant_id = $2 \
             RETURNING tenant_id, user_id, redirect_uri, code_challenge, auth_contexts, created_at",
        )
        .bind(hash_secret(code))
        .bind(tenant_id)
        .fetch_optional(&self.writer)
        .await?;
        drop(turn);
        let Some(row) = row else { return Ok(None) };
        let contexts: String = row.try_get("auth_contexts")?;
        Ok(Some(AppCode {
            tenant_id: row.try_get("tenant_id")?,
            user_id: row.try_get("user_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            code_challenge: row.try_get("code_challenge")?,
            auth_contexts: serde_json::from_str(&contexts).unwrap_or_default(),
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Issues an access token and a refresh token in `family_id` (a new
    /// family when `None`).
    pub async fn issue_app_tokens(
        &self,
        tenant_id: &str,
        user_id: &str,
        family_id: Option<&str>,
        auth_contexts: &[String],
        access_lifetime: time::Duration,
        refresh_lifetime: time::Duration,
    ) -> Result<AppTokens, StoreError> {
        let now = OffsetDateTime::now_utc();
        let access = Secret::generate(ACCESS_PREFIX);
        let refresh = Secret::generate(REFRESH_PREFIX);
        let family = family_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
        let access_expires_at = timestamp::format(now + access_lifetime);
        let turn = self.write_turn().await?;
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO user_tokens (id, tenant_id, user_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(tenant_id)
        .bind(user_id)
        .bind(access.hash())
        .bind(timestamp::format(now))
        .bind(&access_expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, user_id, family_id, auth_contexts, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(refresh.hash())
        .bind(tenant_id)
        .bind(user_id)
        .bind(&family)
        .bind(json_list(auth_contexts))
        .bind(timestamp::format(now))
        .bind(timestamp::format(now + refresh_lifetime))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        drop(turn);
        Ok(AppTokens {
            access_hash: access.hash(),
            access_token: access,
            refresh_token: refresh,
            access_expires_at,
            auth_contexts: auth_contexts.to_vec(),
        })
    }

    /// Exchanges a refresh token for a new pair. A token is used once: the
    /// update that marks it used is conditional, so two concurrent uses
    /// cannot both succeed.
    pub async fn rotate_refresh_token(
        &self,
        tenant_id: &str,
        token: &str,
        access_lifetime: time::Duration,
        refresh_lifetime: time::Duration,
    ) -> Result<RefreshOutcome, StoreError> {
        let now = timestamp::now();
        let row = sqlx::query(
            "SELECT user_id, family_id, auth_contexts, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE token_hash = $1 AND tenant_id = $2",
        )
        .bind(hash_secret(token))
        .bind(tenant_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Invalid);
        };
        let family: String = row.try_get("family_id")?;
        let expires_at: String = row.try_get("expires_at")?;
        let revoked: Option<String> = row.try_get("revoked_at")?;
        if revoked.is_some() || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        let turn = self.write_turn().await?;
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND tenant_id = $3 AND used_at IS NULL",
        )
        .bind(&now)
        .bind(hash_secret(token))
        .bind(tenant_id)
        .execute(&self.writer)
        .await?;
        drop(turn);
        if claimed.rows_affected() == 0 {
            self.revoke_refresh_family(tenant_id, &family).await?;
            return Ok(RefreshOutcome::Reused);
        }
        let user_id: String = row.try_get("user_id")?;
        let contexts: String = row.try_get("auth_contexts")?;
        let contexts: Vec<String> = serde_json::from_str(&contexts).unwrap_or_default();
        let tokens = self
            .issue_app_tokens(
                tenant_id,
                &user_id,
                Some(&family),
                &contexts,
                access_lifetime,
                refresh_lifetime,
            )
            .await?;
        Ok(RefreshOutcome::Rotated { user_id, tokens })
    }

    async fn revoke_refresh_family(&self, tenant_id: &str, family: &str) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND family_id = $3 AND revoked_at IS NULL",
        )
        .bind(timestamp::now())
        .bind(tenant_id)
        .bind(family)
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(())
    }
}
