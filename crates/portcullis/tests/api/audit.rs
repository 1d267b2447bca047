//! The audit log: every kind of event is recorded by the real flow that causes it, with
//! its user, client and address, and staff (only) read it at `/admin/audit/`.

use std::time::Duration;

use portcullis::store::{AuditEvent, AuditFilter, AuditKind, User};

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;

use crate::applications::unescape;
use crate::authorize::{answer_consent, authorize_url, param, pkce, query_of, register_signing_with, REDIRECT};
use crate::helpers::{csrf_token, hidden_field, portcullis, Backend, Browser, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        logins_failures_throttling_and_logout,
        consent_and_the_code_flow_with_its_replay,
        grants_refresh_reuse_and_revocation,
        device_approval_and_denial,
        application_pages,
        staff_changes,
        command_line_changes,
        the_audit_page_is_for_staff_only,
        the_audit_page_lists_filters_and_pages,
    ]
}

const LOOPBACK: &str = "127.0.0.1";

/// A form's fields.
type Fields = Vec<(&'static str, &'static str)>;

/// Events of `kind`, newest first, once there are at least `count`: token issuance is
/// stored just after the answer, so the test waits for it (at most five seconds).
async fn events(app: &TestApp, kind: AuditKind, count: usize) -> Vec<AuditEvent> {
    let filter = AuditFilter { kind: Some(kind), ..AuditFilter::default() };
    for _ in 0..100 {
        let found = app.store.list_audit_events(&filter, 1000).await.unwrap();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = app.store.list_audit_events(&filter, 1000).await.unwrap();
    panic!("expected {count} {kind} events, found {}: {found:?}", found.len());
}

/// The one event of `kind`.
async fn only(app: &TestApp, kind: AuditKind) -> AuditEvent {
    let found = events(app, kind, 1).await;
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// How many events of `kind` there are now.
async fn count(app: &TestApp, kind: AuditKind) -> usize {
    let filter = AuditFilter { kind: Some(kind), ..AuditFilter::default() };
    app.store.list_audit_events(&filter, 1000).await.unwrap().len()
}

#[track_caller]
fn assert_event(event: &AuditEvent, user: Option<i64>, client: Option<&str>, detail: &str) {
    assert_eq!(event.event.user_id, user, "{event:?}");
    assert_eq!(event.event.client_id.as_deref(), client, "{event:?}");
    assert!(event.event.detail.contains(detail), "{detail:?} not in {event:?}");
}

#[track_caller]
fn assert_from_loopback(event: &AuditEvent) {
    assert_eq!(event.event.client_addr.as_deref(), Some(LOOPBACK), "{event:?}");
}

async fn staff_member(app: &TestApp, username: &str) -> User {
    app.staff_user(username).await
}

async fn login_form(browser: &Browser, username: &str, password: &str) -> crate::helpers::Answer {
    browser.submit("/accounts/login/", "/accounts/login/", &[("username", username), ("password", password)]).await
}

async fn logins_failures_throttling_and_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let browser = Browser::new(&app);

    let wrong = login_form(&browser, "alice", "not her password").await;
    assert_eq!(wrong.status, StatusCode::OK);
    let failed = only(&app, AuditKind::LoginFailed).await;
    assert_event(&failed, Some(alice.id), None, "login page");
    assert_from_loopback(&failed);
    // An unknown username names no account: the text typed is not recorded.
    login_form(&browser, "correct horse battery", "x").await;
    let failures = events(&app, AuditKind::LoginFailed, 2).await;
    assert_event(&failures[0], None, None, "login page");
    assert!(!failures[0].event.detail.contains("correct horse"), "{failures:?}");

    browser.login("alice", PASSWORD).await;
    let login = only(&app, AuditKind::LoginSucceeded).await;
    assert_event(&login, Some(alice.id), None, "login page");
    assert_from_loopback(&login);

    let page = browser.get("/o/applications/").await;
    let out = browser.post("/accounts/logout/", &[("csrf_token", &csrf_token(&page.text))]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_event(&only(&app, AuditKind::Logout).await, Some(alice.id), None, "logout button");

    // Logging in cleared alice's failures; after five more, the next attempt is
    // refused unchecked, and says so.
    for _ in 0..5 {
        login_form(&browser, "alice", "still wrong").await;
    }
    assert_eq!(count(&app, AuditKind::LoginThrottled).await, 0);
    assert_eq!(login_form(&browser, "alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    let throttled = only(&app, AuditKind::LoginThrottled).await;
    assert_event(&throttled, Some(alice.id), None, "too many failed logins");
    assert_from_loopback(&throttled);
    assert_eq!(count(&app, AuditKind::LoginSucceeded).await, 1);

    // The password grant shares the lock, and says so with the client named.
    let client = app.confidential().await;
    let form = [("grant_type", "password"), ("username", "alice"), ("password", "nope")];
    app.token(&client, &form).await.assert_error(429, "temporarily_unavailable");
    let throttled = events(&app, AuditKind::LoginThrottled, 2).await;
    assert_event(&throttled[0], Some(alice.id), Some(&client.client_id), "password grant");
    // Once the window has passed, a wrong password in the password grant is a failed
    // login too, at the client.
    app.clock.advance(15 * 60 + 1);
    app.token(&client, &form).await.assert_error(400, "invalid_grant");
    let failures = events(&app, AuditKind::LoginFailed, 8).await;
    assert_eq!(failures.len(), 8);
    assert_event(&failures[0], Some(alice.id), Some(&client.client_id), "password grant");
    assert_from_loopback(&failures[0]);
}

async fn consent_and_the_code_flow_with_its_replay(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode, GrantType::Implicit];
    let client = register_signing_with(&app, ClientType::Confidential, &[REDIRECT], &grants, false, "RS256").await;
    let alice = app.user("alice").await;
    let browser = Browser::new(&app);
    browser.login("alice", PASSWORD).await;

    // Cancel: consent_denied, nothing issued.
    let p = pkce();
    let request = |state: &'static str| {
        authorize_url(
            &client,
            &[
                ("response_type", "code"),
                ("redirect_uri", REDIRECT),
                ("scope", "read write"),
                ("state", state),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    };
    answer_consent(&browser, &request("no"), "cancel").await;
    let denied = only(&app, AuditKind::ConsentDenied).await;
    assert_event(&denied, Some(alice.id), Some(&client.client_id), "scope \"read write\"");
    assert_from_loopback(&denied);

    // Authorize, then the code at the token endpoint.
    let location = answer_consent(&browser, &request("yes"), "allow").await.location();
    let granted = only(&app, AuditKind::ConsentGranted).await;
    assert_event(&granted, Some(alice.id), Some(&client.client_id), "consent page");
    assert_from_loopback(&granted);
    let code = param(&query_of(&location), "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    app.token(&client, &form).await.assert_token();
    let issued = only(&app, AuditKind::TokenIssued).await;
    assert_event(&issued, Some(alice.id), Some(&client.client_id), "grant authorization_code");
    assert!(issued.event.detail.contains("with a refresh token"), "{issued:?}");
    assert_from_loopback(&issued);

    // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
    // authorization server MUST deny the request and SHOULD revoke (when possible) all
    // tokens previously issued based on that authorization code."
    app.token(&client, &form).await.assert_error(400, "invalid_grant");
    let replayed = only(&app, AuditKind::CodeReplayed).await;
    assert_event(&replayed, Some(alice.id), Some(&client.client_id), "presented again");
    assert_from_loopback(&replayed);
    assert_eq!(count(&app, AuditKind::TokenIssued).await, 1);

    // The implicit grant issues at the authorization endpoint.
    let url = authorize_url(&client, &[("response_type", "token"), ("scope", "read")]);
    answer_consent(&browser, &url, "allow").await;
    let issued = events(&app, AuditKind::TokenIssued, 2).await;
    assert_event(&issued[0], Some(alice.id), Some(&client.client_id), "grant implicit, scope \"read\"");
    assert_from_loopback(&issued[0]);
}

async fn grants_refresh_reuse_and_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let client = app.confidential().await;

    let first = app.password_token(&client, "alice", Some("read write")).await;
    let issued = only(&app, AuditKind::TokenIssued).await;
    assert_event(&issued, Some(alice.id), Some(&client.client_id), "grant password, scope \"read write\"");
    assert_from_loopback(&issued);
    app.client_credentials(&client).await;
    let issued = events(&app, AuditKind::TokenIssued, 2).await;
    assert_event(&issued[0], None, Some(&client.client_id), "grant client_credentials");
    assert!(!issued[0].event.detail.contains("refresh"), "{issued:?}");

    // Rotation, then the rotated-out token again (RFC 9700 §4.14.2).
    let old = first["refresh_token"].as_str().unwrap();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", old)];
    app.token(&client, &refresh).await.assert_token();
    let issued = events(&app, AuditKind::TokenIssued, 3).await;
    assert_event(&issued[0], Some(alice.id), Some(&client.client_id), "grant refresh_token");
    app.token(&client, &refresh).await.assert_error(400, "invalid_grant");
    let reuse = only(&app, AuditKind::RefreshReuseDetected).await;
    assert_event(&reuse, Some(alice.id), Some(&client.client_id), "every token of its grant is revoked");
    assert_from_loopback(&reuse);
    assert!(app
        .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .await
        .status
        .is_client_error());
    assert_eq!(count(&app, AuditKind::RefreshReuseDetected).await, 1, "an unknown token is no reuse");

    // RFC 7009: a revocation that revokes something is recorded; one that changes
    // nothing (unknown, another client's, already revoked) is not.
    let fresh = app.password_token(&client, "alice", None).await;
    let access = fresh["access_token"].as_str().unwrap();
    let revoke = |token: String| {
        let (app, client) = (&app, &client);
        async move { app.post_form("/o/revoke_token/", Some(client), &[("token", &token)]).await }
    };
    assert_eq!(revoke(access.to_owned()).await.status, StatusCode::OK);
    let revoked = only(&app, AuditKind::TokenRevoked).await;
    assert_event(&revoked, Some(alice.id), Some(&client.client_id), "an access token");
    assert_from_loopback(&revoked);
    assert_eq!(revoke(access.to_owned()).await.status, StatusCode::OK);
    assert_eq!(revoke("no such token".to_owned()).await.status, StatusCode::OK);
    let other = app.confidential().await;
    let theirs = app.client_credentials(&other).await;
    assert_eq!(revoke(theirs["access_token"].as_str().unwrap().to_owned()).await.status, StatusCode::OK);
    assert_eq!(count(&app, AuditKind::TokenRevoked).await, 1);
    let refresh_token = fresh["refresh_token"].as_str().unwrap();
    let answer = app
        .post_form("/o/revoke_token/", Some(&client), &[("token", refresh_token), ("token_type_hint", "refresh_token")])
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let revoked = events(&app, AuditKind::TokenRevoked, 2).await;
    assert_event(&revoked[0], Some(alice.id), Some(&client.client_id), "a refresh token, with every token");
}

async fn device_approval_and_denial(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tv = app.client(ClientType::Public, &[GrantType::DeviceCode], None).await;
    let alice = app.user("alice").await;
    let browser = Browser::new(&app);
    browser.login("alice", PASSWORD).await;
    for (button, kind) in [("cancel", AuditKind::ConsentDenied), ("allow", AuditKind::ConsentGranted)] {
        let start =
            app.post_form("/o/device-authorization/", None, &[("client_id", &tv.client_id), ("scope", "read")]).await;
        let codes = start.json();
        let question =
            browser.submit("/o/device/", "/o/device/", &[("user_code", codes["user_code"].as_str().unwrap())]).await;
        let pressed = if button == "allow" { ("allow", "Authorize") } else { ("cancel", "Cancel") };
        let shown = hidden_field(&question.text, "user_code").unwrap();
        let fields = [("csrf_token", csrf_token(&question.text)), ("user_code", shown)];
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(pressed);
        assert_eq!(browser.post("/o/device/", &form).await.status, StatusCode::OK);
        let answered = only(&app, kind).await;
        assert_event(&answered, Some(alice.id), Some(&tv.client_id), "device page: scope \"read\"");
        assert_from_loopback(&answered);
        if button == "allow" {
            let poll = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", codes["device_code"].as_str().unwrap()),
                ("client_id", tv.client_id.as_str()),
            ];
            app.post_form("/o/token/", None, &poll).await.assert_token();
            let issued = only(&app, AuditKind::TokenIssued).await;
            let grant = "grant urn:ietf:params:oauth:grant-type:device_code";
            assert_event(&issued, Some(alice.id), Some(&tv.client_id), grant);
        }
    }
}

async fn application_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let browser = Browser::new(&app);
    browser.login("alice", PASSWORD).await;
    let register = "/o/applications/register/";
    let fields = [
        ("name", "Billing \"service\""),
        ("client_type", "confidential"),
        ("grant_type", "device-code"),
        ("algorithm", "RS256"),
    ];
    let page = browser.submit(register, register, &fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let stored = app.store.list_applications().await.unwrap().pop().unwrap();
    let created = only(&app, AuditKind::ApplicationCreated).await;
    assert_event(&created, Some(alice.id), Some(&stored.client_id), "\"Billing \\\"service\\\"\", confidential");
    assert_from_loopback(&created);

    let edit = format!("/o/applications/{}/update/", stored.id);
    let changed = [("name", "Billing"), ("client_type", "confidential"), ("grant_type", "device-code")];
    let answer = browser.submit(&edit, &edit, &[changed.as_slice(), &[("algorithm", "EdDSA")]].concat()).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let event = only(&app, AuditKind::ApplicationChanged).await;
    assert_event(&event, Some(alice.id), Some(&stored.client_id), "changed by its owner: name, algorithm");

    let detail = format!("/o/applications/{}/", stored.id);
    let answer = browser.submit(&detail, &format!("/o/applications/{}/secret/", stored.id), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    let reset = only(&app, AuditKind::ApplicationSecretReset).await;
    assert_event(&reset, Some(alice.id), Some(&stored.client_id), "the old one no longer works");
    assert_from_loopback(&reset);

    let delete = format!("/o/applications/{}/delete/", stored.id);
    assert_eq!(browser.submit(&delete, &delete, &[]).await.status, StatusCode::SEE_OTHER);
    let deleted = only(&app, AuditKind::ApplicationDeleted).await;
    assert_event(&deleted, Some(alice.id), Some(&stored.client_id), "deleted by its owner");
    assert_from_loopback(&deleted);
}

async fn staff_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = staff_member(&app, "admin").await;
    let staff = Browser::new(&app);
    staff.login("admin", PASSWORD).await;

    let new_user = "/admin/users/new/";
    let form = [
        ("username", "bob"),
        ("email", "bob@example.com"),
        ("password1", "long enough 1"),
        ("password2", "long enough 1"),
    ];
    assert_eq!(staff.submit(new_user, new_user, &form).await.status, StatusCode::SEE_OTHER);
    let bob = app.store.user_by_username("bob").await.unwrap().unwrap();
    let created = only(&app, AuditKind::UserCreated).await;
    assert_event(&created, Some(admin.id), None, &format!("admin pages: user {} (bob), ordinary", bob.id));
    assert_from_loopback(&created);

    let page = format!("/admin/users/{}/", bob.id);
    let changes: [(&str, Fields, &str); 4] = [
        ("active", vec![("active", "0")], "(bob) deactivated"),
        ("active", vec![("active", "1")], "(bob) reactivated"),
        (
            "password",
            vec![("password1", "another one 2"), ("password2", "another one 2")],
            "(bob) given a new password",
        ),
        ("groups", vec![("groups", "ops, dev")], "(bob) groups set to dev, ops"),
    ];
    for (n, (action, fields, detail)) in changes.iter().enumerate() {
        let answer = staff.submit(&page, &format!("{page}{action}/"), fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{action}: {}", answer.text);
        let changed = events(&app, AuditKind::UserChanged, n + 1).await;
        assert_event(&changed[0], Some(admin.id), None, detail);
        assert_from_loopback(&changed[0]);
    }
    assert!(!events(&app, AuditKind::UserChanged, 4).await.iter().any(|e| e.event.detail.contains("another one")));

    // Staff revoke a token, then delete its application.
    let client = app.confidential().await;
    let bobs_password = [("grant_type", "password"), ("username", "bob"), ("password", "another one 2")];
    let token = app.token(&client, &bobs_password).await.assert_token();
    let hash = portcullis::crypto::TokenHash::of(token["access_token"].as_str().unwrap());
    let token_id = app.store.access_token(&hash).await.unwrap().unwrap().id;
    let tokens = "/admin/tokens/";
    let answer = staff.submit(tokens, &format!("/admin/tokens/{token_id}/revoke/"), &[("grant", "1")]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let revoked = only(&app, AuditKind::AdminTokenRevoked).await;
    let detail = format!("access token {token_id} (user bob's) and every token of its grant");
    assert_event(&revoked, Some(admin.id), Some(&client.client_id), &detail);
    assert_from_loopback(&revoked);
    let app_id = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap().id;
    let detail_page = format!("/admin/applications/{app_id}/");
    let answer = staff.submit(&detail_page, &format!("{detail_page}delete/"), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let deleted = only(&app, AuditKind::ApplicationDeleted).await;
    assert_event(&deleted, Some(admin.id), Some(&client.client_id), "admin pages: deleted with its tokens");

    // A user taking back an application's access revokes its tokens.
    let client = app.confidential().await;
    app.token(&client, &bobs_password).await.assert_token();
    let bobs = Browser::new(&app);
    bobs.login("bob", "another one 2").await;
    let app_id = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap().id;
    let list = "/o/authorized_tokens/";
    let answer = bobs.submit(list, &format!("/o/authorized_tokens/{app_id}/delete/"), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let revoked = only(&app, AuditKind::TokenRevoked).await;
    assert_event(&revoked, Some(bob.id), Some(&client.client_id), "the user took back access");
    assert_from_loopback(&revoked);
}

async fn command_line_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.db.url.clone();
    portcullis(
        &url,
        &["createsuperuser", "--username", "root", "--email", "r@example.com", "--password-stdin"],
        Some("long enough 1\n"),
    )
    .await;
    portcullis(
        &url,
        &["user", "create", "--username", "carol", "--email", "c@example.com", "--password-stdin"],
        Some("long enough 2\n"),
    )
    .await;
    let created = events(&app, AuditKind::UserCreated, 2).await;
    let carol = app.store.user_by_username("carol").await.unwrap().unwrap();
    assert_event(&created[0], None, None, &format!("command line: user {} (carol), user", carol.id));
    assert_eq!(created[0].event.client_addr, None);
    assert!(created[1].event.detail.contains("(root), superuser"), "{created:?}");

    let out = portcullis(
        &url,
        &[
            "app",
            "create",
            "--name",
            "Cron",
            "--client-type",
            "confidential",
            "--grant-type",
            "client-credentials",
            "--owner",
            "carol",
            "--json",
        ],
        None,
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let client_id = json["client_id"].as_str().unwrap();
    let made = only(&app, AuditKind::ApplicationCreated).await;
    assert_event(&made, None, Some(client_id), "command line: \"Cron\", confidential, owned by carol");
    portcullis(&url, &["app", "delete", client_id], None).await;
    assert_event(&only(&app, AuditKind::ApplicationDeleted).await, None, Some(client_id), "command line");

    let out = portcullis(&url, &["keys", "rotate"], None).await;
    let rotated = only(&app, AuditKind::KeyRotated).await;
    for kid in out.lines().filter_map(|l| l.strip_prefix("new signing key ")) {
        assert!(rotated.event.detail.contains(kid), "{kid} not in {rotated:?}");
    }
    // `cleartokens` leaves the history alone.
    portcullis(&url, &["cleartokens"], None).await;
    let all = app.store.list_audit_events(&AuditFilter::default(), 100).await.unwrap();
    assert_eq!(all.len(), 5, "{all:?}");
}

async fn the_audit_page_is_for_staff_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = Browser::new(&app);
    for (path, next) in [("/admin/audit/", "%2Fadmin%2Faudit%2F"), ("/admin/audit", "%2Fadmin%2Faudit")] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{path}");
        assert_eq!(answer.location(), format!("/accounts/login/?next={next}"));
    }
    app.user("alice").await;
    let alice = Browser::new(&app);
    alice.login("alice", PASSWORD).await;
    for path in ["/admin/audit/", "/admin/audit/?kind=login_succeeded", "/admin/audit"] {
        let answer = alice.get(path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.text.contains("You do not have access"), "{path}: {}", answer.text);
        assert!(!answer.text.contains("login_succeeded</span>"), "{}", answer.text);
    }
}

async fn the_audit_page_lists_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let admin = staff_member(&app, "admin").await;
    let client = app.confidential().await;
    for _ in 0..55 {
        app.client_credentials(&client).await;
    }
    events(&app, AuditKind::TokenIssued, 55).await;
    app.password_token(&client, "alice", None).await;
    events(&app, AuditKind::TokenIssued, 56).await;
    let staff = Browser::new(&app);
    staff.login("admin", PASSWORD).await;

    let index = staff.get("/admin/").await;
    assert!(unescape(&index.text).contains("href=\"/admin/audit/\""), "linked from the overview: {}", index.text);
    let page = staff.get("/admin/audit/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(rows(&page.text), 50, "one page");
    // Newest first: the staff member's login, then alice's token.
    let first = page.text.find("login_succeeded</span>").unwrap();
    let second = page.text.find("grant password").unwrap();
    assert!(first < second);
    assert!(unescape(&page.text).contains(&format!("href=\"/admin/users/{}/\">admin</a>", admin.id)), "{}", page.text);
    assert!(page.text.contains(&client.client_id));
    assert!(page.text.contains(LOOPBACK));
    let older = hidden_link(&page.text, "next").expect("a link to older events");
    let page2 = staff.get(&older).await;
    assert_eq!(rows(&page2.text), 7, "57 events in all");
    assert!(hidden_link(&page2.text, "next").is_none());
    assert!(hidden_link(&page2.text, "first").is_some());

    // Filters: kind, username, client id; and together.
    let by_kind = staff.get("/admin/audit/?kind=login_succeeded").await;
    assert_eq!(rows(&by_kind.text), 1);
    assert!(by_kind.text.contains("<option value=\"login_succeeded\" selected>"), "{}", by_kind.text);
    let by_user = staff.get("/admin/audit/?user=alice").await;
    assert_eq!(rows(&by_user.text), 1);
    assert!(unescape(&by_user.text).contains(&format!("href=\"/admin/users/{}/\">alice</a>", alice.id)));
    let by_app = staff.get(&format!("/admin/audit/?app={}&kind=token_issued", client.client_id)).await;
    assert_eq!(rows(&by_app.text), 50);
    let nobody = staff.get("/admin/audit/?user=nobody").await;
    assert_eq!(rows(&nobody.text), 0);
    assert!(nobody.text.contains("No events match these filters."));
    for bad in ["/admin/audit/?kind=everything", "/admin/audit/?before=x", "/admin/audit/?before=-3"] {
        assert_eq!(staff.get(bad).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Rows in the first table of a page.
fn rows(html: &str) -> usize {
    html.matches("<tr>").count().saturating_sub(1)
}

/// The target of the page's link with `rel="{rel}"`, entities decoded.
fn hidden_link(html: &str, rel: &str) -> Option<String> {
    let end = html.find(&format!("\" rel=\"{rel}\""))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&").replace("&#x2f;", "/"))
}
