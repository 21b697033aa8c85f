//! Sign-in state: identity connections, browser sessions, sign-ins in
//! progress, break-glass accounts and each user's last sign-in. Session ids
//! and `state` values are random secrets, stored only as SHA-256 hashes.

use lockgate_domain::timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::secret::{Secret, hash_secret};
use crate::{Store, StoreError};

const SESSION_PREFIX: &str = "lgsess_";

/// A session to create after a successful sign-in.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub tenant_id: String,
    /// `tid:oid` for identity-provider users, `break-glass:NAME` otherwise.
    pub principal: String,
    /// The Lockgate user the sign-in is linked to, if any.
    pub user_id: Option<String>,
    pub display_name: String,
    pub roles: Vec<String>,
    /// Authentication contexts (`acrs`) the sign-in satisfied.
    pub auth_contexts: Vec<String>,
    /// The identity provider's session id (`sid`), for front-channel logout.
    pub idp_session: Option<String>,
    pub logout_hint: Option<String>,
    /// Absolute lifetime of the session.
    pub lifetime: time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionRecord {
    pub tenant_id: String,
    pub principal: String,
    pub user_id: Option<String>,
    pub display_name: String,
    pub roles: Vec<String>,
    pub auth_contexts: Vec<String>,
    pub idp_session: Option<String>,
    pub logout_hint: Option<String>,
    #[serde(skip)]
    pub csrf_token: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

fn list(value: &[String]) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_string())
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, StoreError> {
    let roles: String = row.try_get("roles")?;
    let contexts: String = row.try_get("auth_contexts")?;
    Ok(SessionRecord {
        tenant_id: row.try_get("tenant_id")?,
        principal: row.try_get("principal")?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        roles: parse_list(&roles),
        auth_contexts: parse_list(&contexts),
        idp_session: row.try_get("idp_session")?,
        logout_hint: row.try_get("logout_hint")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// A sign-in between the redirect to the provider and the callback.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub tenant_id: String,
    pub browser_hash: String,
    /// The relying party's state for the callback (nonce, PKCE verifier).
    pub pending: Value,
    pub return_to: String,
    pub created_at: String,
}

/// A break-glass account as stored.
#[derive(Debug, Clone)]
pub struct BreakGlassAccount {
    pub tenant_id: String,
    pub username: String,
    pub password_hash: String,
    pub totp_secret: Secret,
    pub failures: i64,
    pub locked_until: Option<String>,
    pub last_totp_step: Option<i64>,
}

impl Store {
    /// Creates a session and returns the cookie value, shown only here.
    pub async fn create_session(
        &self,
        new: NewSession,
    ) -> Result<(Secret, SessionRecord), StoreError> {
        let cookie = Secret::generate(SESSION_PREFIX);
        let csrf = Secret::generate("");
        let now = OffsetDateTime::now_utc();
        let record = SessionRecord {
            tenant_id: new.tenant_id,
            principal: new.principal,
            user_id: new.user_id,
            display_name: new.display_name,
            roles: new.roles,
            auth_contexts: new.auth_contexts,
            idp_session: new.idp_session,
            logout_hint: new.logout_hint,
            csrf_token: csrf.expose().to_string(),
            created_at: timestamp::format(now),
            last_seen_at: timestamp::format(now),
            expires_at: timestamp::format(now + new.lifetime),
        };
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, tenant_id, principal, user_id, display_name, roles, auth_contexts, \
             idp_session, logout_hint, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(cookie.hash())
        .bind(&record.tenant_id)
        .bind(&record.principal)
        .bind(&record.user_id)
        .bind(&record.display_name)
        .bind(list(&record.roles))
        .bind(list(&record.auth_contexts))
        .bind(&record.idp_session)
        .bind(&record.logout_hint)
        .bind(&record.csrf_token)
        .bind(&record.created_at)
        .bind(&record.last_seen_at)
        .bind(&record.expires_at)
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok((cookie, record))
    }

    /// Returns the live session behind a cookie value. A session past its
    /// absolute end, or idle for longer than `idle`, is deleted and `None`
    /// is returned. Use is recorded at most once a minute, so reading a
    /// session rarely writes.
    pub async fn session(
        &self,
        cookie: &str,
        idle: time::Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let hash = hash_secret(cookie);
        let row = sqlx::query(
            "SELECT tenant_id, principal, user_id, display_name, roles, auth_contexts, idp_session, \
             logout_hint, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut record = session_from_row(&row)?;
        let now = OffsetDateTime::now_utc();
        let now_text = timestamp::format(now);
        let idle_end = timestamp::format(now - idle);
        if record.expires_at <= now_text || record.last_seen_at <= idle_end {
            self.delete_session_hash(&hash).await?;
            return Ok(None);
        }
        if record.last_seen_at <= timestamp::format(now - time::Duration::minutes(1)) {
            let turn = self.write_turn().await?;
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(&now_text)
                .bind(&hash)
                .execute(&self.writer)
                .await?;
            drop(turn);
            record.last_seen_at = now_text;
        }
        Ok(Some(record))
    }

    /// Ends the session behind a cookie value.
    pub async fn end_session(&self, cookie: &str) -> Result<(), StoreError> {
        self.delete_session_hash(&hash_secret(cookie)).await
    }

    async fn delete_session_hash(&self, hash: &str) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(hash)
            .execute(&self.writer)
            .await?;
        drop(turn);
        Ok(())
    }

    /// Ends every session of the tenant that came from the provider
    /// session `sid`, for front-channel logout. Returns how many ended.
    pub async fn end_sessions_by_idp_session(
        &self,
        tenant_id: &str,
        sid: &str,
    ) -> Result<u64, StoreError> {
        let turn = self.write_turn().await?;
        let result = sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND idp_session = $2")
            .bind(tenant_id)
            .bind(sid)
            .execute(&self.writer)
            .await?;
        drop(turn);
        Ok(result.rows_affected())
    }

    /// Ends every session of a user, as when they leave.
    pub async fn end_sessions_of_user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<u64, StoreError> {
        let turn = self.write_turn().await?;
        let result = sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant_id)
            .bind(user_id)
            .execute(&self.writer)
            .await?;
        drop(turn);
        Ok(result.rows_affected())
    }

    /// Records a sign-in in progress under the hash of its `state`.
    pub async fn put_pending_sign_in(
        &self,
        state: &str,
        pending: &PendingSignIn,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO pending_sign_ins (state_hash, tenant_id, browser_hash, pending, return_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash_secret(state))
        .bind(&pending.tenant_id)
        .bind(&pending.browser_hash)
        .bind(pending.pending.to_string())
        .bind(&pending.return_to)
        .bind(&pending.created_at)
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(())
    }

    /// Takes the sign-in in progress for `state` out of the store, so a
    /// replayed callback finds nothing. Sign-ins older than `max_age` are
    /// removed and not returned.
    pub async fn take_pending_sign_in(
        &self,
        state: &str,
        max_age: time::Duration,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let oldest = timestamp::format(OffsetDateTime::now_utc() - max_age);
        let turn = self.write_turn().await?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE created_at < $1")
            .bind(&oldest)
            .execute(&self.writer)
            .await?;
        drop(turn);
        let turn = self.write_turn().await?;
        let row = sqlx::query(
            "DELETE FROM pending_sign_ins WHERE state_hash = $1 \
             RETURNING tenant_id, browser_hash, pending, return_to, created_at",
        )
        .bind(hash_secret(state))
        .fetch_optional(&self.writer)
        .await?;
        drop(turn);
        let Some(row) = row else { return Ok(None) };
        let pending: String = row.try_get("pending")?;
        Ok(Some(PendingSignIn {
            tenant_id: row.try_get("tenant_id")?,
            browser_hash: row.try_get("browser_hash")?,
            pending: serde_json::from_str(&pending)
                .map_err(|e| StoreError::Corrupt(format!("pending sign-in: {e}")))?,
            return_to: row.try_get("return_to")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// Saves a tenant's identity connection. The client credential (a JSON
    /// document with a secret, or a certificate and its private key) is
    /// kept as given, because each token request needs it in clear.
    pub async fn put_identity_connection(
        &self,
        tenant_id: &str,
        settings: &Value,
        client_credential: &Secret,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO identity_connections (tenant_id, settings, client_credential, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, \
             client_credential = excluded.client_credential, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(settings.to_string())
        .bind(client_credential.expose())
        .bind(timestamp::now())
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(())
    }

    /// Returns a tenant's identity connection settings and client credential.
    pub async fn identity_connection(
        &self,
        tenant_id: &str,
    ) -> Result<Option<(Value, Secret)>, StoreError> {
        let row = sqlx::query(
            "SELECT settings, client_credential FROM identity_connections WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let settings: String = row.try_get("settings")?;
        let secret: String = row.try_get("client_credential")?;
        let settings = serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("identity connection: {e}")))?;
        Ok(Some((settings, Secret::from_string(secret))))
    }

    /// Records that a user signed in now.
    pub async fn record_sign_in(&self, tenant_id: &str, user_id: &str) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query(
            "INSERT INTO user_sign_ins (tenant_id, user_id, last_at) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_at = excluded.last_at",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(timestamp::now())
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(())
    }

    /// Users of the tenant whose last sign-in is older than `before`.
    pub async fn users_signed_in_before(
        &self,
        tenant_id: &str,
        before: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT user_id FROM user_sign_ins WHERE tenant_id = $1 AND last_at < $2")
                .bind(tenant_id)
                .bind(before)
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
    }

    pub async fn create_break_glass(
        &self,
        tenant_id: &str,
        username: &str,
        password_hash: &str,
        totp_secret: &str,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        let result = sqlx::query(
            "INSERT INTO break_glass_accounts (tenant_id, username, password_hash, totp_secret, failures, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(tenant_id)
        .bind(username)
        .bind(password_hash)
        .bind(totp_secret)
        .bind(timestamp::now())
        .execute(&self.writer)
        .await;
        drop(turn);
        match result {
            Ok(_) => Ok(()),
            Err(e) if StoreError::is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "break-glass account \"{username}\" already exists in this tenant; choose another name"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn break_glass_account(
        &self,
        tenant_id: &str,
        username: &str,
    ) -> Result<Option<BreakGlassAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, username, password_hash, totp_secret, failures, locked_until, last_totp_step \
             FROM break_glass_accounts WHERE tenant_id = $1 AND username = $2",
        )
        .bind(tenant_id)
        .bind(username)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let secret: String = row.try_get("totp_secret")?;
        Ok(Some(BreakGlassAccount {
            tenant_id: row.try_get("tenant_id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            totp_secret: Secret::from_string(secret),
            failures: row.try_get("failures")?,
            locked_until: row.try_get("locked_until")?,
            last_totp_step: row.try_get("last_totp_step")?,
        }))
    }

    /// Records the outcome of a break-glass sign-in attempt. `totp_step`
    /// is the time step of an accepted code, so it cannot be used twice.
    pub async fn record_break_glass_attempt(
        &self,
        tenant_id: &str,
        username: &str,
        failures: i64,
        locked_until: Option<&str>,
        totp_step: Option<i64>,
    ) -> Result<(), StoreError> {
        let turn = self.write_turn().await?;
        sqlx::query(
            "UPDATE break_glass_accounts SET failures = $1, locked_until = $2, \
             last_totp_step = COALESCE($3, last_totp_step) WHERE tenant_id = $4 AND username = $5",
        )
        .bind(failures)
        .bind(locked_until)
        .bind(totp_step)
        .bind(tenant_id)
        .bind(username)
        .execute(&self.writer)
        .await?;
        drop(turn);
        Ok(())
    }
}
