//! Break-glass accounts: password and TOTP, lockout, one use per code,
//! audit and announcement, and the session they give.

use reqwest::StatusCode;
use totp_rs::{Algorithm, Builder, Secret};

use crate::browser::{Browser, hidden_field};
use crate::common::TestApp;

fn code_for(secret: &str, offset_steps: i64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(Secret::try_from_base32(secret).unwrap())
        .with_account_name("rescue")
        .build()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset_steps * 30;
    totp.generate(now as u64).to_string()
}

async fn sign_in(browser: &mut Browser, password: &str, code: &str) -> crate::browser::Page {
    let form = browser.get("/auth/st-marys/break-glass").await;
    assert_eq!(form.status, StatusCode::OK);
    let token = hidden_field(&form.body, "form_token");
    browser
        .post_form(
            "/auth/st-marys/break-glass",
            &[
                ("form_token", &token),
                ("username", "rescue"),
                ("password", password),
                ("code", code),
            ],
        )
        .await
}

#[tokio::test]
async fn break_glass_signs_in_and_is_announced() {
    let app = TestApp::spawn().await;
    let created = lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
        .await
        .unwrap();
    let mut browser = Browser::new(&app.origin);

    let page = sign_in(
        &mut browser,
        created.password.expose(),
        &code_for(created.totp_secret.expose(), 0),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/portal/st-marys"));
    let cookie = &page.set_cookies["lg_session"];
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    let portal = browser.get("/portal/st-marys").await;
    assert_eq!(portal.status, StatusCode::OK);
    assert!(portal.body.contains("tenant_admin"), "{}", portal.body);

    // The session works on the admin API, as a tenant admin.
    let admin = browser.get("/admin/v1/tenants/st-marys/policies").await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.body);

    let records = app
        .store
        .tenant(&app.tenant.id)
        .audit_records(0, 100)
        .await
        .unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"break_glass_created"), "{actions:?}");
    assert!(actions.contains(&"break_glass_sign_in"), "{actions:?}");
    let outbox = app.store.tenant(&app.tenant.id).outbox(10).await.unwrap();
    assert!(
        outbox
            .iter()
            .any(|(_, e, _)| e.kind == "break_glass_used" && e.recipient == "tenant_admins"),
        "{outbox:?}"
    );

    // Sign-out ends the session and needs the page's CSRF token.
    let csrf = hidden_field(&portal.body, "csrf");
    let refused = browser
        .post_form("/auth/st-marys/logout", &[("csrf", "forged")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let out = browser
        .post_form("/auth/st-marys/logout", &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/auth/st-marys/signed-out"));
    let after = browser.get("/admin/v1/tenants/st-marys/policies").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn break_glass_code_works_once() {
    let app = TestApp::spawn().await;
    let created = lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
        .await
        .unwrap();
    let code = code_for(created.totp_secret.expose(), 0);
    let mut first = Browser::new(&app.origin);
    assert_eq!(
        sign_in(&mut first, created.password.expose(), &code)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let mut second = Browser::new(&app.origin);
    let replay = sign_in(&mut second, created.password.expose(), &code).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
}

#[tokio::test]
async fn break_glass_locks_after_five_failures() {
    let app = TestApp::spawn().await;
    let created = lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
        .await
        .unwrap();
    let mut browser = Browser::new(&app.origin);
    let good_code = code_for(created.totp_secret.expose(), 0);
    for attempt in 0..5 {
        let page = sign_in(&mut browser, "wrong password", &good_code).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(page.body.contains("wrong"), "{}", page.body);
    }
    let locked = sign_in(&mut browser, created.password.expose(), &good_code).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(!browser.cookies.contains_key("lg_session"));
    let records = app
        .store
        .tenant(&app.tenant.id)
        .audit_records(0, 100)
        .await
        .unwrap();
    let failures = records
        .iter()
        .filter(|r| r.action == "break_glass_failed")
        .count();
    assert_eq!(failures, 6);
}

#[tokio::test]
async fn break_glass_form_needs_its_cookie() {
    let app = TestApp::spawn().await;
    let created = lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
        .await
        .unwrap();
    let mut browser = Browser::new(&app.origin);
    let form = browser.get("/auth/st-marys/break-glass").await;
    let token = hidden_field(&form.body, "form_token");
    // A form posted from another site arrives without the Strict cookie.
    browser.cookies.clear();
    let page = browser
        .post_form(
            "/auth/st-marys/break-glass",
            &[
                ("form_token", &token),
                ("username", "rescue"),
                ("password", created.password.expose()),
                ("code", &code_for(created.totp_secret.expose(), 0)),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
}

#[test]
fn break_glass_names_are_checked() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = TestApp::spawn().await;
        let error = lockgate_server::create_break_glass(&app.store, &app.tenant, "no spaces")
            .await
            .err()
            .unwrap();
        assert!(error.contains("not valid"), "{error}");
        lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
            .await
            .unwrap();
        let error = lockgate_server::create_break_glass(&app.store, &app.tenant, "rescue")
            .await
            .err()
            .unwrap();
        assert!(error.contains("already exists"), "{error}");
    });
}

#[tokio::test]
async fn break_glass_created_by_cli_while_serving() {
    let app = TestApp::spawn().await;
    // Warm the server's audit chain first, then let another process (the
    // CLI) create the account and append to the chain behind its back.
    let first = lockgate_server::create_break_glass(&app.store, &app.tenant, "first")
        .await
        .unwrap();
    let cli = lockgate_store::Store::connect(&lockgate_store::StoreOptions::sqlite_in_dir(
        app.data_dir().unwrap(),
    ))
    .await
    .unwrap();
    let created = lockgate_server::create_break_glass(&cli, &app.tenant, "rescue")
        .await
        .unwrap();
    cli.close().await;
    let _ = first;

    let mut browser = Browser::new(&app.origin);
    let page = sign_in(
        &mut browser,
        created.password.expose(),
        &code_for(created.totp_secret.expose(), 0),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let chain = app
        .store
        .tenant(&app.tenant.id)
        .verify_audit(None)
        .await
        .unwrap();
    assert!(chain.is_intact(), "{chain:?}");
}
