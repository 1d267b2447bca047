//! The staff pages at `/admin/`: access rules, users, applications and tokens.

use portcullis::crypto::TokenHash;
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::{ApplicationSettings, AuditFilter, AuditKind, NewUser, User};
use reqwest::StatusCode;

use crate::helpers::{csrf_token, read, Answer, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        anonymous_visitors_are_sent_to_log_in,
        non_staff_users_are_refused_everything,
        index_counts_users_applications_and_live_tokens,
        staff_create_users_who_can_then_log_in,
        create_user_rejects_bad_input_and_writes_nothing,
        deactivation_ends_sessions_tokens_and_logins_until_reactivated,
        staff_cannot_deactivate_themselves,
        password_reset_replaces_the_old_password,
        password_reset_ends_sessions_and_revokes_tokens_when_asked,
        groups_are_replaced_and_reach_the_api,
        user_search_and_paging,
        applications_list_detail_and_delete_revokes_tokens,
        staff_edit_any_application,
        token_list_filters_and_revocation,
        forms_without_the_csrf_token_change_nothing,
        only_superusers_change_superusers,
        unknown_ids_are_404_and_bad_input_400,
    ]
}

/// A staff member (or superuser) with password [`PASSWORD`].
async fn staff(app: &TestApp, username: &str, superuser: bool) -> User {
    app.store
        .create_user(&NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            first_name: String::new(),
            last_name: String::new(),
            password_hash: Some(portcullis::password::hash(PASSWORD).unwrap()),
            is_staff: !superuser,
            is_superuser: superuser,
            date_joined: app.clock_now(),
        })
        .await
        .unwrap()
}

/// A browser logged in as a new staff member named `admin`.
async fn admin(app: &TestApp) -> (User, Browser) {
    let user = staff(app, "admin", false).await;
    let browser = Browser::new(app);
    browser.login("admin", PASSWORD).await;
    (user, browser)
}

async fn logged_in(app: &TestApp, username: &str) -> Browser {
    let browser = Browser::new(app);
    browser.login(username, PASSWORD).await;
    browser
}

/// Registers an application with a name, as an owner's.
async fn named_client(app: &TestApp, name: &str, owner: Option<i64>) -> Client {
    let secret = portcullis::crypto::Secret::generate();
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let settings = ApplicationSettings {
        name: name.into(),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::Password, GrantType::AuthorizationCode],
        redirect_uris: vec!["https://client.example/cb".into()],
        ..ApplicationSettings::default()
    };
    app.store.create_application(&client_id, Some(&secret.hash()), owner, &settings, app.clock_now()).await.unwrap();
    Client { client_id, secret: Some(secret.expose().to_owned()) }
}

async fn app_id(app: &TestApp, client: &Client) -> i64 {
    app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap().id
}

async fn token_id(app: &TestApp, token: &str) -> i64 {
    app.store.access_token(&TokenHash::of(token)).await.unwrap().unwrap().id
}

async fn user_named(app: &TestApp, username: &str) -> Option<User> {
    app.store.user_by_username(username).await.unwrap()
}

/// A password-grant token pair for `username`: (access token, refresh token).
async fn tokens_for(app: &TestApp, client: &Client, username: &str) -> (String, String) {
    let body = app.password_token(client, username, Some("read")).await;
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

/// The CSRF token of a logged-in user's session who cannot see the admin pages, from
/// the one page every user can: a consent page.
async fn csrf_of_any_user(app: &TestApp, browser: &Browser) -> String {
    let client = named_client(app, "Consent", None).await;
    let url = format!(
        "/o/authorize/?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fclient.example%2Fcb\
         &code_challenge={}&code_challenge_method=plain",
        client.client_id,
        "a".repeat(43)
    );
    let page = get(browser, &url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    csrf_token(&page.text)
}

/// A page, with the `/` that the templates' HTML escaping writes as `&#x2f;` put back,
/// so tests can look for links.
async fn get(browser: &Browser, path: &str) -> Answer {
    let mut answer = browser.get(path).await;
    answer.text = answer.text.replace("&#x2f;", "/");
    answer
}

/// Posts `fields` and the page's CSRF token to `action`, as the form on `page` does.
async fn submit(browser: &Browser, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
    let mut answer = browser.submit(page, action, fields).await;
    answer.text = answer.text.replace("&#x2f;", "/");
    answer
}

#[track_caller]
fn assert_see_other(answer: &Answer, to: &str) {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), to);
}

async fn password_grant(app: &TestApp, client: &Client, username: &str, password: &str) -> StatusCode {
    app.token(client, &[("grant_type", "password"), ("username", username), ("password", password)]).await.status
}

/// Logs in through the form; true when the login succeeded.
async fn can_log_in(app: &TestApp, username: &str, password: &str) -> bool {
    let browser = Browser::new(app);
    let answer =
        browser.submit("/accounts/login/", "/accounts/login/", &[("username", username), ("password", password)]).await;
    answer.status == StatusCode::SEE_OTHER
}

/// Rows in the first table of a page.
fn rows(html: &str) -> usize {
    html.matches("<tr>").count().saturating_sub(1)
}

async fn anonymous_visitors_are_sent_to_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = Browser::new(&app);
    for (path, next) in [
        ("/admin/", "%2Fadmin%2F"),
        ("/admin", "%2Fadmin"),
        ("/admin/users/?q=a%20b&page=2", "%2Fadmin%2Fusers%2F%3Fq%3Da%2520b%26page%3D2"),
        ("/admin/tokens/", "%2Fadmin%2Ftokens%2F"),
    ] {
        let answer = get(&browser, path).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{path}");
        assert_eq!(answer.location(), format!("/accounts/login/?next={next}"), "{path}");
    }
    let posted = browser.post("/admin/users/new/", &[("username", "mallory"), ("password1", "x")]).await;
    assert_eq!(posted.status, StatusCode::FOUND);
    assert!(user_named(&app, "mallory").await.is_none());

    // After logging in, `next` brings a staff member back.
    staff(&app, "admin", false).await;
    let login = get(&browser, "/accounts/login/?next=%2Fadmin%2Fusers%2F").await;
    let answer = browser
        .post(
            "/accounts/login/",
            &[
                ("username", "admin"),
                ("password", PASSWORD),
                ("next", "/admin/users/"),
                ("csrf_token", &csrf_token(&login.text)),
            ],
        )
        .await;
    assert_eq!(answer.location(), "/admin/users/");
    assert_eq!(get(&browser, "/admin/users/").await.status, StatusCode::OK);
}

async fn non_staff_users_are_refused_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let client = app.confidential().await;
    let (token, _) = tokens_for(&app, &client, "bob").await;
    let (client_db_id, token_db_id) = (app_id(&app, &client).await, token_id(&app, &token).await);
    let browser = logged_in(&app, "alice").await;

    let gets = [
        "/admin/".to_owned(),
        "/admin".to_owned(),
        "/admin/users/".into(),
        "/admin/users/new/".into(),
        format!("/admin/users/{}/", bob.id),
        format!("/admin/users/{}", bob.id),
        "/admin/applications/".into(),
        format!("/admin/applications/{client_db_id}/"),
        format!("/admin/applications/{client_db_id}/update/"),
        "/admin/tokens/".into(),
        "/admin/tokens/?user=bob".into(),
    ];
    for path in &gets {
        let answer = get(&browser, path).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.text.contains("You do not have access"), "{path}: {}", answer.text);
    }

    // Even with the session's own valid CSRF token, every form is refused.
    let csrf = csrf_of_any_user(&app, &browser).await;
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/users/new/".into(),
            vec![
                ("username", "mallory"),
                ("password1", "long enough 1"),
                ("password2", "long enough 1"),
                ("is_staff", "on"),
            ],
        ),
        (format!("/admin/users/{}/active/", bob.id), vec![("active", "0")]),
        (
            format!("/admin/users/{}/password/", bob.id),
            vec![("password1", "taken over!"), ("password2", "taken over!")],
        ),
        (format!("/admin/users/{}/groups/", alice.id), vec![("groups", "admins")]),
        (format!("/admin/applications/{client_db_id}/delete/"), vec![]),
        (format!("/admin/applications/{client_db_id}/update/"), trust_fields()),
        (format!("/admin/tokens/{token_db_id}/revoke/?grant=1"), vec![]),
        (format!("/admin/tokens/{token_db_id}/revoke"), vec![("grant", "0")]),
    ];
    for (path, mut fields) in posts {
        fields.push(("csrf_token", &csrf));
        let answer = browser.post(&path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(answer.text.contains("You do not have access"), "{path}: {}", answer.text);
    }
    assert!(user_named(&app, "mallory").await.is_none());
    assert!(user_named(&app, "bob").await.unwrap().is_active);
    assert!(app.store.user_groups(alice.id).await.unwrap().is_empty());
    assert_eq!(password_grant(&app, &client, "bob", PASSWORD).await, StatusCode::OK, "bob's password unchanged");
    assert_eq!(app.status_with_token("/api/hello/", &token).await, StatusCode::OK, "bob's token still works");
    let untouched = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    assert!(!untouched.settings.skip_authorization && untouched.settings.name == "Test app", "not changed");
}

async fn index_counts_users_applications_and_live_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    tokens_for(&app, &client, "alice").await;
    let (revoked, _) = tokens_for(&app, &client, "alice").await;
    app.store.revoke_access_token(token_id(&app, &revoked).await, app.clock_now()).await.unwrap();
    app.client_credentials(&client).await;
    // A superuser counts as staff even without the staff flag.
    staff(&app, "root", true).await;
    let browser = logged_in(&app, "root").await;
    let page = get(&browser, "/admin/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let text = page.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains(r#"<dt>Users</dt> <dd><a href="/admin/users/">2</a></dd>"#), "{text}");
    assert!(text.contains(r#"<dt>Applications</dt> <dd><a href="/admin/applications/">1</a></dd>"#), "{text}");
    assert!(text.contains(r#"<dt>Live access tokens</dt> <dd><a href="/admin/tokens/">2</a></dd>"#), "{text}");
    app.clock.advance(36_000);
    let later = get(&browser, "/admin").await.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(later.contains(r#"<dd><a href="/admin/tokens/">0</a></dd>"#), "expired tokens are not live: {later}");
}

async fn staff_create_users_who_can_then_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let client = app.confidential().await;
    let form = [
        ("username", "carol"),
        ("email", "carol@example.com"),
        ("password1", "carol's passphrase"),
        ("password2", "carol's passphrase"),
    ];
    let answer = submit(&browser, "/admin/users/new/", "/admin/users/new/", &form).await;
    let carol = user_named(&app, "carol").await.expect("created");
    assert_see_other(&answer, &format!("/admin/users/{}/?done=created", carol.id));
    assert!(carol.is_active && !carol.is_staff && !carol.is_superuser);
    assert_eq!(carol.email, "carol@example.com");
    assert!(carol.password_hash.as_deref().unwrap().starts_with("$argon2id$"), "hashed as the CLI hashes");
    let page = get(&browser, &answer.location()).await;
    assert!(page.text.contains("The user was created.") && page.text.contains("role=\"status\""));
    assert!(can_log_in(&app, "carol", "carol's passphrase").await);
    let token = app
        .token(&client, &[("grant_type", "password"), ("username", "carol"), ("password", "carol's passphrase")])
        .await
        .assert_token();
    assert_eq!(
        app.get_with_token("/api/me/", token["access_token"].as_str().unwrap()).await.json()["username"],
        "carol"
    );

    // The staff box makes an admin; the path without its slash takes the form too.
    let form =
        [("username", "dan"), ("password1", "dan's passphrase"), ("password2", "dan's passphrase"), ("is_staff", "on")];
    let answer = submit(&browser, "/admin/users/new", "/admin/users/new", &form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let dan = user_named(&app, "dan").await.unwrap();
    assert!(dan.is_staff && !dan.is_superuser && dan.email.is_empty());
    let dan_browser = Browser::new(&app);
    dan_browser.login("dan", "dan's passphrase").await;
    assert_eq!(get(&dan_browser, "/admin/").await.status, StatusCode::OK);
}

async fn create_user_rejects_bad_input_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    app.user("alice").await;
    let before = app.store.count_users().await.unwrap();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("username", "alice"), ("password1", "a fine passphrase"), ("password2", "a fine passphrase")],
            "already exists",
        ),
        (&[("username", "erin"), ("password1", "a fine passphrase"), ("password2", "another passphrase")], "differ"),
        (&[("username", "erin"), ("password1", "short"), ("password2", "short")], "at least 8 characters"),
        (&[("username", "erin"), ("password1", "1234567890"), ("password2", "1234567890")], "entirely numeric"),
        (&[("username", "er in"), ("password1", "a fine passphrase"), ("password2", "a fine passphrase")], "username"),
        (
            &[
                ("username", "erin"),
                ("email", "not-an-address"),
                ("password1", "a fine pass"),
                ("password2", "a fine pass"),
            ],
            "email address is not valid",
        ),
    ];
    for (form, message) in cases {
        let answer = submit(&browser, "/admin/users/new/", "/admin/users/new/", form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form:?}: {}", answer.text);
        assert!(answer.text.contains(message), "{message:?} in {}", answer.text);
        assert!(answer.text.contains("role=\"alert\""));
        assert!(!answer.text.contains("a fine passphrase"), "passwords are never sent back");
    }
    let answer = submit(
        &browser,
        "/admin/users/new/",
        "/admin/users/new/",
        &[("username", "erin"), ("email", "<b>@example.com"), ("password1", "x"), ("password2", "x")],
    )
    .await;
    assert!(answer.text.contains("value=\"&lt;b&gt;@example.com\""), "typed values come back, escaped");
    assert_eq!(app.store.count_users().await.unwrap(), before, "nothing written");
    let alice = user_named(&app, "alice").await.unwrap();
    assert_eq!(alice.email, "alice@example.com", "the duplicate did not touch alice");
    assert!(can_log_in(&app, "alice", PASSWORD).await);
}

async fn deactivation_ends_sessions_tokens_and_logins_until_reactivated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let client = app.confidential().await;
    let (access, refresh) = tokens_for(&app, &client, "alice").await;
    let alice_browser = logged_in(&app, "alice").await;
    let alice_csrf = csrf_of_any_user(&app, &alice_browser).await;
    let alice_page = format!("/admin/users/{}/", alice.id);
    let action = format!("/admin/users/{}/active/", alice.id);

    let answer = submit(&browser, &alice_page, &action, &[("active", "0")]).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=deactivated", alice.id));
    assert!(!user_named(&app, "alice").await.unwrap().is_active);
    let shown = get(&browser, &answer.location()).await.text;
    assert!(shown.contains("The user was deactivated") && shown.contains("Reactivate alice"), "{shown}");
    let me = app.get_with_token("/api/me/", &access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
    assert!(me.header("www-authenticate").unwrap().contains("invalid_token"));
    assert_eq!(app.status_with_token("/api/hello/", &access).await, StatusCode::UNAUTHORIZED);
    let refreshed = app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST, "{}", refreshed.text);
    assert_eq!(password_grant(&app, &client, "alice", PASSWORD).await, StatusCode::BAD_REQUEST);
    assert!(!can_log_in(&app, "alice", PASSWORD).await);
    // Her session is gone: its CSRF token belongs to no session any more.
    let logout = alice_browser.post("/accounts/logout/", &[("csrf_token", &alice_csrf)]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN, "{}", logout.text);

    let answer = submit(&browser, &alice_page, &action, &[("active", "1")]).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=reactivated", alice.id));
    assert!(user_named(&app, "alice").await.unwrap().is_active);
    assert_eq!(app.status_with_token("/api/me/", &access).await, StatusCode::OK, "unexpired tokens work again");
    assert!(can_log_in(&app, "alice", PASSWORD).await);
}

async fn staff_cannot_deactivate_themselves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (me, browser) = admin(&app).await;
    let page = format!("/admin/users/{}/", me.id);
    assert!(get(&browser, &page).await.text.contains("You cannot deactivate your own account."));
    let answer = submit(&browser, &page, &format!("/admin/users/{}/active/", me.id), &[("active", "0")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("role=\"alert\"") && answer.text.contains("You cannot deactivate your own account"));
    assert!(user_named(&app, "admin").await.unwrap().is_active);
    assert_eq!(get(&browser, "/admin/").await.status, StatusCode::OK, "still logged in");
}

async fn password_reset_replaces_the_old_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (me, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let client = app.confidential().await;
    let alice_browser = logged_in(&app, "alice").await;
    let csrf = csrf_of_any_user(&app, &alice_browser).await;
    let page = format!("/admin/users/{}/", alice.id);
    let action = format!("/admin/users/{}/password", alice.id);

    for (first, second, message) in
        [("new passphrase", "other passphrase", "differ"), ("short", "short", "at least 8 characters")]
    {
        let answer = submit(&browser, &page, &action, &[("password1", first), ("password2", second)]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert!(answer.text.contains(message) && answer.text.contains("role=\"alert\""), "{}", answer.text);
    }
    assert!(can_log_in(&app, "alice", PASSWORD).await, "refused resets change nothing");

    let answer =
        submit(&browser, &page, &action, &[("password1", "new passphrase"), ("password2", "new passphrase")]).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=password", alice.id));
    assert!(!can_log_in(&app, "alice", PASSWORD).await);
    assert!(can_log_in(&app, "alice", "new passphrase").await);
    assert_eq!(password_grant(&app, &client, "alice", PASSWORD).await, StatusCode::BAD_REQUEST);
    assert_eq!(password_grant(&app, &client, "alice", "new passphrase").await, StatusCode::OK);
    // Alice's session ended: her old CSRF token no longer belongs to any session.
    let after = alice_browser.post("/accounts/logout/", &[("csrf_token", &csrf)]).await;
    assert_eq!(after.status, StatusCode::FORBIDDEN, "{}", after.text);

    // Changing one's own password keeps the session doing it.
    let own = format!("/admin/users/{}/", me.id);
    let answer = submit(
        &browser,
        &own,
        &format!("/admin/users/{}/password/", me.id),
        &[("password1", "admin passphrase 2"), ("password2", "admin passphrase 2")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(get(&browser, "/admin/").await.status, StatusCode::OK);
    assert!(can_log_in(&app, "admin", "admin passphrase 2").await);
}

/// Whether a browser's session is still logged in: the next page load of a page for
/// logged-in users either shows it or sends the browser to log in.
async fn still_logged_in(browser: &Browser) -> bool {
    let answer = browser.get("/o/applications/").await;
    if answer.status.is_redirection() {
        assert!(answer.location().starts_with("/accounts/login/"), "{}", answer.location());
        return false;
    }
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    true
}

/// Whether an access token still works, at the API and at introspection.
async fn token_works(app: &TestApp, introspector: &Client, access: &str) -> bool {
    let api = app.status_with_token("/api/me/", access).await;
    let active = app.introspect(introspector, access).await["active"] == true;
    assert_eq!(api == StatusCode::OK, active, "the API ({api}) and introspection agree");
    active
}

/// A new password set by staff ends the user's sessions at once. The tokens already
/// issued to them stay valid, and the page says so, unless staff tick the box that
/// revokes them: then the API refuses them and introspection calls them inactive
/// (RFC 7662 §2.2: "If the introspection call is properly authorized but the token is
/// not active, does not exist on this server, or the protected resource is not allowed
/// to introspect this particular token, then the authorization server MUST return an
/// introspection response with the "active" field set to "false""), and so does the
/// refresh token.
async fn password_reset_ends_sessions_and_revokes_tokens_when_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let client = app.confidential().await;
    let introspector = app.confidential().await;
    let page = format!("/admin/users/{}/", alice.id);
    let action = format!("/admin/users/{}/password/", alice.id);
    let form = get(&browser, &page).await.text;
    assert!(form.contains("stay valid unless revoked"), "{form}");
    assert!(form.contains("name=\"revoke_tokens\" type=\"checkbox\""), "{form}");
    assert!(!form.contains("name=\"revoke_tokens\" type=\"checkbox\" checked"), "not ticked by default");

    // Without the box: her sessions end, her tokens keep working, and the page says so.
    let alice_browser = logged_in(&app, "alice").await;
    assert!(still_logged_in(&alice_browser).await);
    let (kept, _) = tokens_for(&app, &client, "alice").await;
    let first = [("password1", "new passphrase 1"), ("password2", "new passphrase 1")];
    let answer = submit(&browser, &page, &action, &first).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=password", alice.id));
    assert!(!still_logged_in(&alice_browser).await, "her session outlived the new password");
    assert!(token_works(&app, &introspector, &kept).await);
    let notice = get(&browser, &answer.location()).await.text;
    assert!(notice.contains("Tokens already issued to them stay valid until they expire or are revoked."), "{notice}");

    // With the box: her sessions end and every token of hers stops working.
    let alice_browser = Browser::new(&app);
    alice_browser.login("alice", "new passphrase 1").await;
    let grant = [("grant_type", "password"), ("username", "alice"), ("password", "new passphrase 1")];
    let issued = app.token(&client, &grant).await.assert_token();
    let (access, refresh) = (issued["access_token"].as_str().unwrap(), issued["refresh_token"].as_str().unwrap());
    let other_app = app.confidential().await;
    let elsewhere = app.token(&other_app, &grant).await.assert_token()["access_token"].as_str().unwrap().to_owned();
    app.user("bob").await;
    let (bobs, _) = tokens_for(&app, &client, "bob").await;
    let second = [("password1", "new passphrase 2"), ("password2", "new passphrase 2"), ("revoke_tokens", "on")];
    let answer = submit(&browser, &page, &action, &second).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=password_revoked", alice.id));
    assert!(!still_logged_in(&alice_browser).await);
    for token in [kept.as_str(), access, &elsewhere] {
        assert!(!token_works(&app, &introspector, token).await, "a token of hers still works");
    }
    let refreshed = app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    refreshed.assert_error(400, "invalid_grant");
    assert!(token_works(&app, &introspector, &bobs).await, "other users keep their tokens");
    let notice = get(&browser, &answer.location()).await.text;
    assert!(notice.contains("every token issued to them was revoked"), "{notice}");
    // She signs in again with the new password, and gets tokens that work.
    let grant = [("grant_type", "password"), ("username", "alice"), ("password", "new passphrase 2")];
    let fresh = app.token(&client, &grant).await.assert_token();
    assert!(token_works(&app, &introspector, fresh["access_token"].as_str().unwrap()).await);

    // The audit log says what happened, and the revocation is found among revocations.
    let filter = AuditFilter { kind: Some(AuditKind::AdminTokenRevoked), ..AuditFilter::default() };
    let revoked = app.store.list_audit_events(&filter, 10).await.unwrap();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let detail = &revoked[0].event.detail;
    assert!(detail.contains("every token of user") && detail.contains("revoked with a new password"), "{detail}");
    // Three password grants, each an access and a refresh token.
    assert!(detail.ends_with(": 6 access and refresh tokens"), "{detail}");
    let filter = AuditFilter { kind: Some(AuditKind::UserChanged), ..AuditFilter::default() };
    let changes: Vec<String> =
        app.store.list_audit_events(&filter, 10).await.unwrap().into_iter().map(|e| e.event.detail).collect();
    assert!(changes.iter().any(|d| d.ends_with("other sessions ended, tokens kept")), "{changes:?}");
    assert!(changes.iter().any(|d| d.ends_with("other sessions ended, 6 tokens revoked")), "{changes:?}");
}

async fn groups_are_replaced_and_reach_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    app.store.add_user_to_group(alice.id, "old").await.unwrap();
    let client = app.confidential().await;
    let (access, _) = tokens_for(&app, &client, "alice").await;
    let page = format!("/admin/users/{}/", alice.id);
    let action = format!("/admin/users/{}/groups/", alice.id);
    let groups = || async { app.get_with_token("/api/me/", &access).await.json()["groups"].clone() };
    assert_eq!(groups().await, serde_json::json!(["old"]));
    assert!(get(&browser, &page).await.text.contains("value=\"old\""));

    let answer = submit(&browser, &page, &action, &[("groups", "ops, dev  qa,ops\n")]).await;
    assert_see_other(&answer, &format!("/admin/users/{}/?done=groups", alice.id));
    assert_eq!(groups().await, serde_json::json!(["dev", "ops", "qa"]));
    assert!(get(&browser, &page).await.text.contains("value=\"dev, ops, qa\""));

    let too_long = "g".repeat(151);
    let answer = submit(&browser, &page, &action, &[("groups", &format!("ops {too_long}"))]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("at most 150 characters") && answer.text.contains("role=\"alert\""));
    assert_eq!(groups().await, serde_json::json!(["dev", "ops", "qa"]), "a refused change keeps the groups");

    submit(&browser, &page, &action, &[("groups", "")]).await;
    assert_eq!(groups().await, serde_json::json!([]));
}

async fn user_search_and_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    for i in 0..55 {
        app.store
            .create_user(&NewUser {
                username: format!("user{i:03}"),
                email: format!("user{i:03}@{}.example", if i % 2 == 0 { "Even" } else { "odd" }),
                first_name: String::new(),
                last_name: String::new(),
                password_hash: None,
                is_staff: false,
                is_superuser: false,
                date_joined: app.clock_now(),
            })
            .await
            .unwrap();
    }
    app.user("a_b").await;
    app.user("axb").await;
    app.store
        .update_profile(
            app.user("eve").await.id,
            &portcullis::store::ProfileUpdate {
                email: Some("<script>alert(1)</script>@x.example".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // 59 users: admin, a_b, axb, eve, user000..user054.
    let first = get(&browser, "/admin/users/").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(rows(&first.text), 50);
    assert!(first.text.contains("59 users") && first.text.contains("Page 1 of 2"), "{}", first.text);
    assert!(first.text.contains(r#"<a href="/admin/users/?page=2" rel="next">"#));
    assert!(!first.text.contains("rel=\"prev\""));
    assert!(first.text.contains("&lt;script&gt;") && !first.text.contains("<script>alert"), "escaped");
    let second = get(&browser, "/admin/users/?page=2").await;
    assert_eq!(rows(&second.text), 9);
    assert!(second.text.contains("Page 2 of 2") && second.text.contains("user054"), "{}", second.text);
    assert!(!second.text.contains(">user000<"), "page 2 does not repeat page 1");
    assert!(second.text.contains(r#"<a href="/admin/users/?page=1" rel="prev">"#));
    assert!(!second.text.contains("rel=\"next\""));
    let beyond = get(&browser, "/admin/users?page=7").await;
    assert_eq!((beyond.status, rows(&beyond.text)), (StatusCode::OK, 0));
    assert!(beyond.text.contains("No users on this page."));

    // Search: username or email, any case; wildcards match themselves; paging keeps q.
    let even = get(&browser, "/admin/users/?q=EVEN.example").await;
    assert_eq!(rows(&even.text), 28, "{}", even.text);
    assert!(even.text.contains("28 users match"));
    let odd = get(&browser, "/admin/users/?q=user0").await;
    assert!(odd.text.contains(r#"href="/admin/users/?q=user0&amp;page=2" rel="next""#), "{}", odd.text);
    let literal = get(&browser, "/admin/users/?q=a_b").await;
    assert_eq!(rows(&literal.text), 1);
    assert!(literal.text.contains(">a_b<") && !literal.text.contains(">axb<"));
    assert_eq!(rows(&get(&browser, "/admin/users/?q=100%25").await.text), 0);

    for bad in ["page=0", "page=-2", "page=two", "page=1e3", "page=99999999999999999999"] {
        let answer = get(&browser, &format!("/admin/users/?{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.text.contains("page number"), "{}", answer.text);
    }
    let long = get(&browser, &format!("/admin/users/?q={}", "x".repeat(300))).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
}

async fn applications_list_detail_and_delete_revokes_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let shop = named_client(&app, "Web Shop", Some(alice.id)).await;
    let printer = named_client(&app, "Photo Printer", None).await;
    let (shop_token, shop_refresh) = tokens_for(&app, &shop, "alice").await;
    let (printer_token, _) = tokens_for(&app, &printer, "alice").await;
    let shop_id = app_id(&app, &shop).await;

    let list = get(&browser, "/admin/applications/").await;
    assert_eq!((list.status, rows(&list.text)), (StatusCode::OK, 2));
    assert!(list.text.find("Photo Printer").unwrap() < list.text.find("Web Shop").unwrap(), "ordered by name");
    assert!(
        list.text.contains(&shop.client_id)
            && list.text.contains(&format!(r#"href="/admin/users/{}/">alice<"#, alice.id))
    );
    assert!(list.text.contains("password, authorization-code") || list.text.contains("authorization-code, password"));
    let by_name = get(&browser, "/admin/applications/?q=shop").await;
    assert_eq!(rows(&by_name.text), 1);
    assert!(by_name.text.contains("Web Shop"));
    let by_client_id = get(&browser, &format!("/admin/applications?q={}", &printer.client_id[4..20])).await;
    assert_eq!(rows(&by_client_id.text), 1);
    assert!(by_client_id.text.contains("Photo Printer"));

    let detail = get(&browser, &format!("/admin/applications/{shop_id}/")).await;
    assert_eq!(detail.status, StatusCode::OK);
    for needle in [shop.client_id.as_str(), "confidential", "https://client.example/cb", ">alice<", "Delete Web Shop"] {
        assert!(detail.text.contains(needle), "{needle} in {}", detail.text);
    }
    assert!(!detail.text.contains(shop.secret.as_deref().unwrap()), "the secret is never shown");

    let answer = submit(
        &browser,
        &format!("/admin/applications/{shop_id}/"),
        &format!("/admin/applications/{shop_id}/delete/"),
        &[],
    )
    .await;
    assert_see_other(&answer, "/admin/applications/?done=deleted");
    assert!(get(&browser, &answer.location()).await.text.contains("The application and all its tokens were deleted."));
    assert!(app.store.application_by_client_id(&shop.client_id).await.unwrap().is_none());
    assert_eq!(app.status_with_token("/api/hello/", &shop_token).await, StatusCode::UNAUTHORIZED);
    let refreshed = app.token(&shop, &[("grant_type", "refresh_token"), ("refresh_token", &shop_refresh)]).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED, "the client is gone: {}", refreshed.text);
    assert_eq!(app.status_with_token("/api/hello/", &printer_token).await, StatusCode::OK, "others untouched");
    assert_eq!(get(&browser, &format!("/admin/applications/{shop_id}/")).await.status, StatusCode::NOT_FOUND);
    let again = submit(&browser, "/admin/", &format!("/admin/applications/{shop_id}/delete"), &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// The admin form's fields that make an application trusted: skip the consent page.
fn trust_fields() -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "Trusted"),
        ("grant_type", "authorization-code"),
        ("grant_type", "password"),
        ("redirect_uris", "https://client.example/cb"),
        ("skip_authorization", "on"),
    ]
}

/// Staff change any application, as Django's admin lets them: skip authorization,
/// grant types, allowed scopes, redirect URIs; its client type and secret stay.
async fn staff_edit_any_application(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin_user, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let shop = named_client(&app, "Web Shop", Some(alice.id)).await;
    let shop_id = app_id(&app, &shop).await;
    let before = app.store.application_by_client_id(&shop.client_id).await.unwrap().unwrap();
    let page = format!("/admin/applications/{shop_id}/");
    let update = format!("/admin/applications/{shop_id}/update/");

    let detail = get(&browser, &page).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(detail.text.contains(&format!("action=\"{update}\"")), "{}", detail.text);
    assert!(detail.text.contains("name=\"skip_authorization\""));
    for grant in GrantType::ALL {
        assert!(detail.text.contains(&format!("value=\"{grant}\"")), "{grant} offered");
    }
    assert!(detail.text.contains("value=\"Web Shop\""), "the form starts from the stored values");
    assert_eq!(get(&browser, &update).await.status, StatusCode::OK, "the form's own address shows it too");

    app.clock.advance(30);
    let answer = submit(
        &browser,
        &page,
        &update,
        &[
            ("name", "Web Shop (trusted)"),
            ("grant_type", "authorization-code"),
            ("grant_type", "client-credentials"),
            ("redirect_uris", "https://shop.example/cb\nhttps://shop.example/cb2"),
            ("scope", "read"),
            ("skip_authorization", "on"),
            ("algorithm", "ES256"),
            ("access_token_format", "jwt"),
            // Not a field of this form: the type stays.
            ("client_type", "public"),
        ],
    )
    .await;
    assert_see_other(&answer, &format!("{page}?done=updated"));
    assert!(get(&browser, &answer.location()).await.text.contains("settings were saved."));
    let after = app.store.application_by_client_id(&shop.client_id).await.unwrap().unwrap();
    assert_eq!(after.settings.name, "Web Shop (trusted)");
    assert!(after.settings.skip_authorization);
    assert_eq!(after.settings.grant_types, vec![GrantType::AuthorizationCode, GrantType::ClientCredentials]);
    assert_eq!(after.settings.redirect_uris, vec!["https://shop.example/cb", "https://shop.example/cb2"]);
    assert_eq!(after.settings.allowed_scopes.as_ref().map(ToString::to_string).as_deref(), Some("read"));
    assert_eq!((after.settings.algorithm.as_str(), after.settings.access_token_format.as_str()), ("ES256", "jwt"));
    assert_eq!(after.settings.client_type, ClientType::Confidential);
    assert_eq!(after.client_secret_hash, before.client_secret_hash, "the secret is kept");
    assert_eq!((after.owner_id, after.updated_at), (Some(alice.id), before.updated_at + 30));
    app.client_credentials(&shop).await;
    let event = app
        .store
        .list_audit_events(
            &portcullis::store::AuditFilter {
                kind: Some(portcullis::store::AuditKind::ApplicationChanged),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(event.len(), 1);
    let event = &event[0].event;
    assert_eq!((event.user_id, event.client_id.as_deref()), (Some(admin_user.id), Some(shop.client_id.as_str())));
    assert!(
        event.detail.contains("admin pages")
            && event.detail.contains("grant types")
            && event.detail.contains("skip authorization"),
        "{}",
        event.detail
    );

    // A bad edit shows what is wrong and changes nothing.
    let bad = submit(
        &browser,
        &page,
        &update,
        &[("name", "Broken"), ("grant_type", "implicit"), ("redirect_uris", "/relative"), ("scope", "admin")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("There are 2 problems") && bad.text.contains("value=\"Broken\""), "{}", bad.text);
    assert!(bad.text.contains("id=\"redirect_uris-error\"") && bad.text.contains("id=\"scope-error\""));
    assert_eq!(app.store.application_by_client_id(&shop.client_id).await.unwrap().unwrap(), after);

    // Skip authorization taken off again, and an application with no owner changed too.
    let printer = named_client(&app, "Photo Printer", None).await;
    let printer_id = app_id(&app, &printer).await;
    let trusted =
        submit(&browser, "/admin/", &format!("/admin/applications/{printer_id}/update"), &trust_fields()).await;
    assert_eq!(trusted.status, StatusCode::SEE_OTHER, "{}", trusted.text);
    let printer_after = app.store.application_by_client_id(&printer.client_id).await.unwrap().unwrap();
    assert!(printer_after.settings.skip_authorization && printer_after.owner_id.is_none());
    let untrusted =
        [("name", "Web Shop"), ("grant_type", "authorization-code"), ("redirect_uris", "https://shop.example/cb")];
    assert_eq!(submit(&browser, &page, &update, &untrusted).await.status, StatusCode::SEE_OTHER);
    let after = app.store.application_by_client_id(&shop.client_id).await.unwrap().unwrap();
    assert!(!after.settings.skip_authorization && after.settings.allowed_scopes.is_none());
}

async fn token_list_filters_and_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let shop = named_client(&app, "Web Shop", None).await;
    let printer = named_client(&app, "Photo Printer", None).await;
    let (alice_shop, alice_refresh) = tokens_for(&app, &shop, "alice").await;
    let (alice_printer, _) = tokens_for(&app, &printer, "alice").await;
    let (bob_shop, bob_refresh) = tokens_for(&app, &shop, "bob").await;
    let machine = app.confidential().await;
    let bound = [("grant_type", "client_credentials"), ("resource", "https://api.example/v1")];
    app.token(&machine, &bound).await.assert_token();

    let all = get(&browser, "/admin/tokens/").await;
    assert_eq!((all.status, rows(&all.text)), (StatusCode::OK, 4));
    assert!(all.text.contains("the client itself"));
    // RFC 8707: where each token works, the one bound and the others unbound.
    assert!(all.text.contains("<code>https://api.example/v1</code>"), "{}", all.text);
    assert_eq!(all.text.matches(r#"<span class="muted">any</span>"#).count(), 3);
    for token in [&alice_shop, &alice_printer, &bob_shop] {
        assert!(!all.text.contains(token.as_str()), "token values are never shown");
    }
    let alices = get(&browser, "/admin/tokens/?user=alice").await;
    assert_eq!(rows(&alices.text), 2);
    assert!(alices.text.contains(&format!(r#"href="/admin/users/{}/">alice<"#, alice.id)));
    assert!(!alices.text.contains(">bob<"));
    let shops = get(&browser, &format!("/admin/tokens?app={}", shop.client_id)).await;
    assert_eq!(rows(&shops.text), 2);
    assert!(!shops.text.contains("Photo Printer"));
    let both = get(&browser, &format!("/admin/tokens/?user=bob&app={}", shop.client_id)).await;
    assert_eq!(rows(&both.text), 1);
    assert!(both.text.contains("live") && both.text.contains("2027-01-15 08:00"), "created, UTC: {}", both.text);
    assert!(both.text.contains("2027-01-15 18:00"), "expires after 36000 s");
    assert_eq!(rows(&get(&browser, "/admin/tokens/?user=nobody").await.text), 0);

    // Revoking one access token: the API refuses it, the refresh token still works.
    let id = token_id(&app, &alice_shop).await;
    let answer = submit(
        &browser,
        "/admin/tokens/?user=alice",
        &format!("/admin/tokens/{id}/revoke/"),
        &[("grant", "0"), ("user", "alice"), ("page", "1")],
    )
    .await;
    assert_see_other(&answer, "/admin/tokens/?user=alice&page=1&done=revoked");
    let after = get(&browser, &answer.location()).await;
    assert!(after.text.contains("The token was revoked.") && after.text.contains(">revoked<"), "{}", after.text);
    assert_eq!(app.status_with_token("/api/hello/", &alice_shop).await, StatusCode::UNAUTHORIZED);
    app.token(&shop, &[("grant_type", "refresh_token"), ("refresh_token", &alice_refresh)]).await.assert_token();
    assert_eq!(app.status_with_token("/api/hello/", &bob_shop).await, StatusCode::OK, "others untouched");

    // Revoking the whole grant (`?grant=1`): the refresh token dies with it.
    let id = token_id(&app, &bob_shop).await;
    let answer = submit(&browser, "/admin/tokens/", &format!("/admin/tokens/{id}/revoke/?grant=1"), &[]).await;
    assert_see_other(&answer, "/admin/tokens/?done=grant_revoked");
    assert_eq!(app.status_with_token("/api/hello/", &bob_shop).await, StatusCode::UNAUTHORIZED);
    let refreshed = app.token(&shop, &[("grant_type", "refresh_token"), ("refresh_token", &bob_refresh)]).await;
    refreshed.assert_error(400, "invalid_grant");

    // A client-credentials token has no grant beyond itself.
    let machine_id = app
        .store
        .list_access_tokens(
            &portcullis::store::TokenFilter { client_id: Some(machine.client_id.clone()), ..Default::default() },
            1,
            0,
        )
        .await
        .unwrap()
        .items[0]
        .record
        .id;
    let answer =
        submit(&browser, "/admin/tokens/", &format!("/admin/tokens/{machine_id}/revoke/"), &[("grant", "1")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("no grant to revoke"));
    let answer = submit(&browser, "/admin/tokens/", &format!("/admin/tokens/{machine_id}/revoke"), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.count_live_tokens(app.clock_now()).await.unwrap(), 2, "alice's printer and refreshed tokens");
}

async fn forms_without_the_csrf_token_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (me, browser) = admin(&app).await;
    let alice = app.user("alice").await;
    let client = app.confidential().await;
    let (access, _) = tokens_for(&app, &client, "alice").await;
    let token = token_id(&app, &access).await;
    let client_db_id = app_id(&app, &client).await;
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/users/new/".into(),
            vec![("username", "mallory"), ("password1", "long enough 1"), ("password2", "long enough 1")],
        ),
        (format!("/admin/users/{}/active/", alice.id), vec![("active", "0")]),
        (format!("/admin/users/{}/active/", me.id), vec![("active", "0")]),
        (
            format!("/admin/users/{}/password/", alice.id),
            vec![("password1", "taken over!"), ("password2", "taken over!")],
        ),
        (format!("/admin/users/{}/groups/", alice.id), vec![("groups", "admins")]),
        (format!("/admin/applications/{client_db_id}/delete/"), vec![]),
        (format!("/admin/applications/{client_db_id}/update/"), trust_fields()),
        (format!("/admin/tokens/{token}/revoke/?grant=1"), vec![]),
    ];
    for (path, fields) in &posts {
        for csrf in [None, Some("forged-token"), Some("")] {
            let mut fields = fields.clone();
            if let Some(csrf) = csrf {
                fields.push(("csrf_token", csrf));
            }
            let answer = browser.post(path, &fields).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path} {csrf:?}: {}", answer.text);
            assert!(answer.text.contains("the form was not sent from this site"), "{}", answer.text);
        }
    }
    // A form that is not a form at all is refused the same way.
    let raw = read(
        browser
            .http
            .post(browser.url(&format!("/admin/users/{}/active/", alice.id)))
            .header("content-type", "application/json")
            .body(r#"{"active":"0"}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(raw.status, StatusCode::FORBIDDEN);
    assert!(user_named(&app, "mallory").await.is_none());
    assert!(user_named(&app, "alice").await.unwrap().is_active && user_named(&app, "admin").await.unwrap().is_active);
    assert!(can_log_in(&app, "alice", PASSWORD).await);
    assert!(app.store.user_groups(alice.id).await.unwrap().is_empty());
    let kept = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    assert!(!kept.settings.skip_authorization && kept.settings.name == "Test app", "not changed");
    assert_eq!(app.status_with_token("/api/me/", &access).await, StatusCode::OK);
}

async fn only_superusers_change_superusers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, browser) = admin(&app).await;
    let root = staff(&app, "root", true).await;
    let page = format!("/admin/users/{}/", root.id);
    let shown = get(&browser, &page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.text.contains("Only a superuser can change a superuser's account."));
    for (action, fields) in [
        ("password/", vec![("password1", "taken over!"), ("password2", "taken over!")]),
        ("active/", vec![("active", "0")]),
        ("groups/", vec![("groups", "nobody")]),
    ] {
        let answer = submit(&browser, &page, &format!("{page}{action}"), &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert!(can_log_in(&app, "root", PASSWORD).await);
    assert!(user_named(&app, "root").await.unwrap().is_active);

    // A superuser may, and may change any staff member.
    let root_browser = logged_in(&app, "root").await;
    let answer = submit(&root_browser, &page, &format!("{page}groups/"), &[("groups", "wheel")]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.user_groups(root.id).await.unwrap(), vec!["wheel".to_owned()]);
}

async fn unknown_ids_are_404_and_bad_input_400(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (me, browser) = admin(&app).await;
    for path in [
        "/admin/users/9999/",
        "/admin/users/abc/",
        "/admin/applications/9999/",
        "/admin/applications/-1",
        "/admin/applications/9999/update/",
    ] {
        let answer = get(&browser, path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    for action in [
        "/admin/users/9999/active/",
        "/admin/applications/9999/delete/",
        "/admin/applications/9999/update/",
        "/admin/tokens/9999/revoke/",
    ] {
        let answer = submit(&browser, "/admin/", action, &[("active", "1")]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{action}");
    }
    let answer = submit(&browser, "/admin/", &format!("/admin/users/{}/active/", me.id), &[("active", "maybe")]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("activate"));
    let answer = get(&browser, "/admin/tokens/?page=0").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let answer = get(&browser, "/admin/applications/?page=x").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}
