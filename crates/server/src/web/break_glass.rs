//! Break-glass sign-in: local emergency admin accounts that never use the
//! identity provider, so an outage or a misconfiguration of single sign-on
//! never locks the tenant's admins out. Each account has an argon2id
//! password and a TOTP second factor (RFC 6238). Every attempt is audited,
//! and every successful use is announced to the tenant's admins through
//! the outbox.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lockgate_domain::audit::Actor;
use lockgate_domain::role::Role;
use lockgate_domain::timestamp;
use lockgate_store::{AccessChanges, AuditDraft, NewSession, OutboxEntry, Secret, Tenant};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder};

use super::cookies::{self, FORM_COOKIE, SESSION_COOKIE};
use super::page::{escape, page, problem};
use crate::AppState;
use crate::admin::auth::cookie_value;

/// Wrong attempts in a row that lock an account.
const MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked.
const LOCKOUT: time::Duration = time::Duration::minutes(15);
/// Break-glass sessions are short: they exist to repair sign-in.
const SESSION_LIFETIME: time::Duration = time::Duration::hours(1);

/// Credentials of a new break-glass account, shown once.
pub struct NewBreakGlass {
    pub password: Secret,
    pub totp_secret: Secret,
    pub otpauth_url: String,
}

/// Creates a break-glass account. Only the CLI calls this: there is no
/// route that creates one, so a stolen session cannot add a back door.
pub async fn create_break_glass(
    store: &lockgate_store::Store,
    tenant: &Tenant,
    username: &str,
) -> Result<NewBreakGlass, String> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(format!(
            "username {username:?} is not valid; use 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    let password = Secret::generate("");
    let hash = tokio::task::spawn_blocking({
        let password = password.expose().to_string();
        move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("hashing the password failed: {e}"))?;
    let secret = totp_rs::Secret::generate();
    let totp_base32 = secret.to_base32();
    let totp = totp_for(&totp_base32, &format!("{username}@{}", tenant.slug))?;
    let otpauth_url = totp.to_url().map_err(|e| e.to_string())?;
    store
        .create_break_glass(&tenant.id, username, &hash, &totp_base32)
        .await
        .map_err(|e| e.to_string())?;
    let actor = Actor::Admin("cli".to_string());
    let audit = AuditDraft {
        source: AuditDraft::admin_source(&actor),
        actor,
        action: "break_glass_created".to_string(),
        subject: format!("break-glass:{username}"),
        detail: json!({}),
    };
    store
        .tenant(&tenant.id)
        .append_audit(vec![audit])
        .await
        .map_err(|e| e.to_string())?;
    Ok(NewBreakGlass {
        password,
        totp_secret: Secret::from_string(totp_base32),
        otpauth_url,
    })
}

fn totp_for(base32: &str, account: &str) -> Result<totp_rs::Totp, String> {
    let secret = totp_rs::Secret::try_from_base32(base32).map_err(|e| e.to_string())?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("Lockgate"))
        .build()
        .map_err(|e| e.to_string())
}

/// `GET /auth/{tenant}/break-glass`: the sign-in form.
pub(crate) async fn form(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    if state.tenant(&slug).await.ok().flatten().is_none() {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "Check the address you were given.",
        );
    }
    let token = Secret::generate("");
    let body = format!(
        "<h1>Emergency sign-in</h1>\
         <p class=\"note\">For break-glass accounts only. Every use is recorded and announced to the tenant's admins.</p>\
         <form method=\"post\" action=\"/auth/{slug}/break-glass\">\
         <input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
         <label for=\"username\">Username</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"code\">Authenticator code</label><input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>\
         <button type=\"submit\">Sign in</button></form>",
        slug = escape(&slug),
        token = token.expose(),
    );
    let mut response = page(StatusCode::OK, "Emergency sign-in", &body);
    response.headers_mut().insert(
        SET_COOKIE,
        cookies::set(FORM_COOKIE, token.expose(), "Strict", 600),
    );
    response
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    form_token: String,
    username: String,
    password: String,
    code: String,
}

/// `POST /auth/{tenant}/break-glass`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let Some(tenant) = state.tenant(&slug).await.ok().flatten() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Unknown tenant",
            "Check the address you were given.",
        );
    };
    let cookie = cookie_value(&headers, FORM_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !bool::from(cookie.as_bytes().ct_eq(form.form_token.as_bytes())) {
        return problem(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The sign-in form was not opened in this browser or has expired. Open it again and retry.",
        );
    }
    match check(&state, &tenant, &form).await {
        Ok(response) => response,
        Err(failure) => failure,
    }
}

const WRONG: &str = "The username, password or authenticator code is wrong.";

async fn check(state: &AppState, tenant: &Tenant, form: &SignInForm) -> Result<Response, Response> {
    let store = &state.store;
    let internal = |e: lockgate_store::StoreError| {
        tracing::error!(error = %e, "break-glass sign-in failed");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "An internal error occurred; try again.",
        )
    };
    let account = store
        .break_glass_account(&tenant.id, &form.username)
        .await
        .map_err(internal)?;
    let now = OffsetDateTime::now_utc();
    let Some(account) = account else {
        audit_attempt(
            state,
            tenant,
            &form.username,
            "break_glass_failed",
            "unknown account",
        )
        .await;
        return Err(problem(StatusCode::UNAUTHORIZED, "Sign-in failed", WRONG));
    };
    if account
        .locked_until
        .as_deref()
        .is_some_and(|until| until > timestamp::format(now).as_str())
    {
        audit_attempt(
            state,
            tenant,
            &form.username,
            "break_glass_failed",
            "locked",
        )
        .await;
        return Err(problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Account locked",
            "Too many wrong attempts locked this account for 15 minutes. Wait, then try again.",
        ));
    }
    let password_ok = verify_password(form.password.clone(), account.password_hash.clone()).await;
    let step = totp_for(account.totp_secret.expose(), &account.username)
        .ok()
        .and_then(|totp| totp.check(form.code.trim(), now.unix_timestamp().max(0) as u64))
        .and_then(|step| i64::try_from(step).ok())
        // A code is accepted once (RFC 6238 §5.2): a replay of the last
        // accepted step is as wrong as a wrong code.
        .filter(|step| account.last_totp_step.is_none_or(|last| *step > last));
    let Some(step) = step.filter(|_| password_ok) else {
        let failures = account.failures + 1;
        let locked = (failures >= MAX_FAILURES).then(|| timestamp::format(now + LOCKOUT));
        store
            .record_break_glass_attempt(
                &tenant.id,
                &account.username,
                failures,
                locked.as_deref(),
                None,
            )
            .await
            .map_err(internal)?;
        audit_attempt(
            state,
            tenant,
            &form.username,
            "break_glass_failed",
            "wrong credentials",
        )
        .await;
        return Err(problem(StatusCode::UNAUTHORIZED, "Sign-in failed", WRONG));
    };
    store
        .record_break_glass_attempt(&tenant.id, &account.username, 0, None, Some(step))
        .await
        .map_err(internal)?;
    start_session(state, tenant, &account.username)
        .await
        .map_err(internal)
}

/// Creates the break-glass session, announces it and sends the browser
/// to the portal.
async fn start_session(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
) -> Result<Response, lockgate_store::StoreError> {
    let principal = format!("break-glass:{username}");
    let (cookie, _) = state
        .store
        .create_session(NewSession {
            tenant_id: tenant.id.clone(),
            principal: principal.clone(),
            user_id: None,
            display_name: format!("{username} (break-glass)"),
            roles: vec![Role::TenantAdmin.as_str().to_string()],
            auth_contexts: Vec::new(),
            idp_session: None,
            logout_hint: None,
            lifetime: SESSION_LIFETIME.min(state.config.session_lifetime),
        })
        .await?;
    announce(state, tenant, &principal).await?;

    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        format!("/portal/{}", tenant.slug)
            .parse()
            .expect("slug is URL-safe"),
    );
    headers.append(
        SET_COOKIE,
        cookies::set(
            SESSION_COOKIE,
            cookie.expose(),
            "Lax",
            SESSION_LIFETIME.whole_seconds(),
        ),
    );
    headers.append(SET_COOKIE, cookies::clear(FORM_COOKIE));
    Ok(response)
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

async fn audit_attempt(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    action: &str,
    reason: &str,
) {
    let draft = AuditDraft {
        actor: Actor::Admin(format!("break-glass:{username}")),
        source: Some("break-glass".to_string()),
        action: action.to_string(),
        subject: format!("break-glass:{username}"),
        detail: json!({"reason": reason}),
    };
    if let Err(error) = state
        .store
        .tenant(&tenant.id)
        .append_audit(vec![draft])
        .await
    {
        tracing::error!(%error, tenant = %tenant.slug, "auditing a break-glass attempt failed");
    }
}

/// Audits a successful use and notifies every tenant admin through the outbox.
async fn announce(
    state: &AppState,
    tenant: &Tenant,
    principal: &str,
) -> Result<(), lockgate_store::StoreError> {
    let changes = AccessChanges {
        outbox: vec![OutboxEntry {
            recipient: "tenant_admins".to_string(),
            user_id: principal.to_string(),
            kind: "break_glass_used".to_string(),
            detail: json!({"account": principal, "at": timestamp::now()}),
        }],
        audit: vec![AuditDraft {
            actor: Actor::Admin(principal.to_string()),
            source: Some("break-glass".to_string()),
            action: "break_glass_sign_in".to_string(),
            subject: principal.to_string(),
            detail: json!({}),
        }],
        ..AccessChanges::default()
    };
    state.store.tenant(&tenant.id).apply_changes(changes).await
}
