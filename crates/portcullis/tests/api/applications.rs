//! The application pages (`/o/applications/`): a user registers, sees, edits, re-keys
//! and deletes their own client applications, and nobody else's.

use portcullis::crypto::TokenHash;
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::Application;
use reqwest::StatusCode;

use crate::helpers::{csrf_token, Answer, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        anonymous_visitors_are_sent_to_log_in,
        confidential_app_secret_is_shown_once_and_works,
        public_app_with_every_setting,
        invalid_registrations_write_nothing,
        other_users_applications_are_not_found,
        forms_without_their_csrf_token_change_nothing,
        edit_an_application,
        client_type_changes_make_or_drop_the_secret,
        regenerate_the_secret,
        delete_an_application_and_its_tokens,
        ordinary_users_cannot_make_an_application_skip_consent,
        only_staff_are_offered_skip_authorization_and_every_grant,
        self_service_grant_types_are_honoured,
        owners_keep_what_staff_gave_until_they_widen_it,
    ]
}

const REGISTER: &str = "/o/applications/register/";

/// The text of `<code id="{id}">` in a page.
pub fn code_text(html: &str, id: &str) -> Option<String> {
    let marker = format!("<code id=\"{id}\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</code>")? + start;
    Some(html[start..end].to_owned())
}

/// A page's text with the entities minijinja writes decoded, to look for URLs in it.
pub fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A browser logged in as a new user `username`.
pub async fn logged_in(app: &TestApp, username: &str) -> Browser {
    app.user(username).await;
    let browser = Browser::new(app);
    browser.login(username, PASSWORD).await;
    browser
}

/// Registers an application through the form; asserts success and returns it as
/// stored, with the secret the page showed.
pub async fn register(app: &TestApp, browser: &Browser, fields: &[(&str, &str)]) -> (Application, Client) {
    let page = browser.submit(REGISTER, REGISTER, fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let client_id = code_text(&page.text, "client-id").expect("the page shows the client id");
    let stored = app.store.application_by_client_id(&client_id).await.unwrap().expect("stored");
    (stored, Client { client_id, secret: code_text(&page.text, "client-secret") })
}

/// A server whose self-service form offers every grant (`[pages]
/// self_service_grant_types`), for the cases about the form itself rather than about
/// which grants users may choose.
pub async fn every_grant(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.pages.self_service_grant_types = GrantType::ALL.iter().map(|g| g.as_str().to_owned()).collect();
    })
    .await
}

/// A staff member `username` with password [`PASSWORD`], logged in.
pub async fn staff_logged_in(app: &TestApp, username: &str) -> Browser {
    app.staff_user(username).await;
    let browser = Browser::new(app);
    browser.login(username, PASSWORD).await;
    browser
}

/// A confidential application for machine-to-machine calls.
const SERVICE: &[(&str, &str)] = &[
    ("name", "Billing service"),
    ("client_type", "confidential"),
    ("grant_type", "client-credentials"),
    ("grant_type", "password"),
    ("algorithm", "RS256"),
];

/// A form's fields, in order.
type Fields = Vec<(&'static str, &'static str)>;

fn path(template: &str, id: i64) -> String {
    template.replace("{id}", &id.to_string())
}

async fn anonymous_visitors_are_sent_to_log_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = Browser::new(&app);
    for (page, next) in [
        ("/o/applications/", "%2Fo%2Fapplications%2F"),
        ("/o/applications", "%2Fo%2Fapplications"),
        ("/o/applications/register/", "%2Fo%2Fapplications%2Fregister%2F"),
        ("/o/applications/3/", "%2Fo%2Fapplications%2F3%2F"),
        ("/o/applications/3/update/", "%2Fo%2Fapplications%2F3%2Fupdate%2F"),
        ("/o/applications/3/delete", "%2Fo%2Fapplications%2F3%2Fdelete"),
        ("/o/applications/?done=deleted", "%2Fo%2Fapplications%2F%3Fdone%3Ddeleted"),
        ("/o/authorized_tokens/", "%2Fo%2Fauthorized_tokens%2F"),
    ] {
        let answer = browser.get(page).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{page}");
        assert_eq!(answer.location(), format!("/accounts/login/?next={next}"), "{page}");
    }
    // Posts without a session cannot carry the session's CSRF token.
    for action in ["/o/applications/register/", "/o/applications/3/delete/", "/o/applications/3/secret/"] {
        assert_eq!(browser.post(action, &[("name", "x")]).await.status, StatusCode::FORBIDDEN, "{action}");
    }
    // Logging in from there comes back to the page.
    let alice = app.user("alice").await;
    let login = "/accounts/login/?next=%2Fo%2Fapplications%2Fregister%2F";
    let answer =
        browser.submit(login, login, &[("username", "alice"), ("password", PASSWORD), ("next", REGISTER)]).await;
    assert_eq!(answer.location(), REGISTER);
    assert_eq!(browser.get(REGISTER).await.status, StatusCode::OK);
    assert!(app.store.applications_owned_by(alice.id).await.unwrap().is_empty());
}

async fn confidential_app_secret_is_shown_once_and_works(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();

    let empty = browser.get("/o/applications/").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text.contains("You have not registered any applications yet."), "{}", empty.text);
    assert!(empty.text.contains("href=\"/o/applications/register/\""));
    let form = browser.get(REGISTER).await;
    for field in
        ["id=\"name\"", "name=\"client_type\"", "value=\"device-code\"", "id=\"redirect_uris\"", "id=\"algorithm\""]
    {
        assert!(form.text.contains(field), "{field} missing from the form");
    }
    assert!(form.text.contains("<label for=\"name\">"), "every input has a label");

    let page = browser.submit(REGISTER, REGISTER, &[SERVICE, &[("scope", "read"), ("scope", "write")]].concat()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.header("cache-control"), Some("no-store"), "a page with a secret is never cached");
    assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
    let client_id = code_text(&page.text, "client-id").unwrap();
    let secret = code_text(&page.text, "client-secret").expect("the secret is shown");
    assert_eq!(secret.len(), portcullis::crypto::GENERATED_LEN);
    assert!(page.text.contains("data-copy=\"client-secret\""), "a Copy button for the secret");
    assert!(page.text.contains("<script src=\"/static/copy.js\""), "the script is our own file");
    assert!(!page.text.contains("<script>"), "no inline script");
    assert!(page.text.contains("shown only this once"));

    let stored = app.store.application_by_client_id(&client_id).await.unwrap().unwrap();
    assert_eq!(stored.owner_id, Some(alice.id));
    assert_eq!(stored.settings.name, "Billing service");
    assert_eq!(stored.settings.client_type, ClientType::Confidential);
    assert_eq!(stored.settings.grant_types, vec![GrantType::Password, GrantType::ClientCredentials]);
    assert_eq!(stored.settings.allowed_scopes.as_ref().map(ToString::to_string).as_deref(), Some("read write"));
    assert!(stored.client_secret_hash.unwrap().ct_eq(&TokenHash::of(&secret)), "only the hash is kept");

    // The secret works at the token endpoint.
    let client = Client { client_id: client_id.clone(), secret: Some(secret.clone()) };
    let token = app.client_credentials(&client).await;
    let hello = app.get_with_token("/api/hello/", token["access_token"].as_str().unwrap()).await;
    assert_eq!(hello.status, StatusCode::OK);

    // Never shown again: not on the detail page, not in the list.
    let detail_path = path("/o/applications/{id}/", stored.id);
    for page in [detail_path.as_str(), detail_path.trim_end_matches('/'), "/o/applications/", "/o/applications"] {
        let answer = browser.get(page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}");
        assert!(!answer.text.contains(&secret), "{page} shows the secret again");
        assert!(answer.text.contains(&client_id), "{page} shows the client id");
    }
    let detail = browser.get(&detail_path).await;
    assert!(code_text(&detail.text, "client-secret").is_none());
    let text = unescape(&detail.text);
    for needed in
        ["Billing service", "Client credentials", "Regenerate secret", "/update/\">Edit</a>", "/delete/\"", "<time"]
    {
        assert!(text.contains(needed), "{needed} missing from the detail page");
    }

    let script = browser.get("/static/copy.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(script.text.contains("data-copy"));
}

async fn public_app_with_every_setting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Skipping the consent page is for staff to choose.
    let browser = staff_logged_in(&app, "alice").await;
    // Without the trailing slash, and with untidy lines in the text areas.
    let page = browser
        .submit(
            "/o/applications/register",
            "/o/applications/register",
            &[
                ("name", "  Photo viewer  "),
                ("client_type", "public"),
                ("grant_type", "authorization-code"),
                ("grant_type", "device-code"),
                ("redirect_uris", " https://photos.example/cb \r\n\r\nhttp://127.0.0.1:8400/cb\r\n"),
                ("allowed_origins", "https://photos.example\nhttp://localhost:3000"),
                ("skip_authorization", "on"),
                ("algorithm", "ES256"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(code_text(&page.text, "client-secret").is_none(), "public clients get no secret");
    assert!(page.text.contains("Public clients have no secret"));
    let stored =
        app.store.application_by_client_id(&code_text(&page.text, "client-id").unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.settings.name, "Photo viewer");
    assert_eq!(stored.settings.client_type, ClientType::Public);
    assert!(stored.client_secret_hash.is_none());
    assert_eq!(stored.settings.grant_types, vec![GrantType::AuthorizationCode, GrantType::DeviceCode]);
    assert_eq!(stored.settings.redirect_uris, vec!["https://photos.example/cb", "http://127.0.0.1:8400/cb"]);
    assert_eq!(stored.settings.allowed_origins, vec!["https://photos.example", "http://localhost:3000"]);
    assert!(stored.settings.allowed_scopes.is_none(), "none checked: every scope");
    assert!(stored.settings.skip_authorization);
    assert_eq!(stored.settings.algorithm.as_str(), "ES256");
    let detail = unescape(&browser.get(&path("/o/applications/{id}", stored.id)).await.text);
    for needed in ["https://photos.example/cb", "http://localhost:3000", "Every configured scope", "ES256", "Skipped"] {
        assert!(detail.contains(needed), "{needed} missing from the detail page");
    }
    assert!(!detail.contains("Regenerate secret"));
}

async fn invalid_registrations_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app, "alice").await;
    let code = [("name", "Bad app"), ("client_type", "confidential"), ("grant_type", "authorization-code")];
    // (the form, the field at fault, what the page says)
    let cases: Vec<(Fields, &str, &str)> = vec![
        ([&code[..], &[("redirect_uris", "/relative/cb")]].concat(), "redirect_uris", "is not an absolute URI"),
        ([&code[..], &[("redirect_uris", "https://a.example/cb#x")]].concat(), "redirect_uris", "fragment"),
        ([&code[..], &[("redirect_uris", "ftp://a.example/cb")]].concat(), "redirect_uris", "scheme"),
        (code.to_vec(), "redirect_uris", "The authorization-code grant needs at least one redirect URI."),
        (
            vec![("name", "Bad app"), ("client_type", "public"), ("grant_type", "client-credentials")],
            "grant_type",
            "Client-credentials needs a confidential client (RFC 6749 §4.4), since a public client cannot keep the \
             secret it would authenticate with. For a browser or mobile front end, use authorization-code with PKCE \
             instead, keeping the client public (RFC 7636).",
        ),
        (vec![("name", "Bad app"), ("client_type", "confidential")], "grant_type", "Choose at least one grant type."),
        (
            vec![("name", "Bad app"), ("client_type", "confidential"), ("grant_type", "teleport")],
            "grant_type",
            "Unknown grant type",
        ),
        (
            vec![("name", "Bad app"), ("client_type", "confidential"), ("grant_type", "password"), ("scope", "admin")],
            "scope",
            "is not one of the configured scopes",
        ),
        (
            vec![
                ("name", "Bad app"),
                ("client_type", "confidential"),
                ("grant_type", "password"),
                ("allowed_origins", "https://app.example/"),
            ],
            "allowed_origins",
            "is not an origin",
        ),
        (
            vec![("name", "   "), ("client_type", "public"), ("grant_type", "password")],
            "name",
            "The application name must be",
        ),
        (vec![("name", "Bad app"), ("grant_type", "password")], "client_type", "Choose a client type"),
        (
            vec![("name", "Bad app"), ("client_type", "public"), ("grant_type", "password"), ("algorithm", "HS256")],
            "algorithm",
            "is not one of RS256, ES256, EdDSA",
        ),
    ];
    for (fields, field, needle) in &cases {
        let answer = browser.submit(REGISTER, REGISTER, fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{fields:?}: {}", answer.text);
        assert!(answer.text.contains("role=\"alert\""), "{fields:?}");
        assert!(answer.text.contains("Nothing was saved."), "{fields:?}");
        let text = unescape(&answer.text);
        assert!(text.contains(needle), "{needle:?} not in the answer to {fields:?}: {text}");
        assert!(
            answer.text.contains(&format!("id=\"{field}-error\"")),
            "{field} has no message of its own: {fields:?}"
        );
        assert!(answer.text.contains(&format!("href=\"#{field}\"")), "the summary links to {field}");
        // What was entered comes back.
        if let Some((_, uri)) = fields.iter().find(|(k, _)| *k == "redirect_uris") {
            assert!(text.contains(&format!(">{uri}</textarea>")), "the redirect URI is kept");
        }
        if fields.contains(&("name", "Bad app")) {
            assert!(answer.text.contains("value=\"Bad app\""), "the name is kept");
        }
    }
    // Several problems at once are all reported.
    let answer = browser
        .submit(
            REGISTER,
            REGISTER,
            &[("name", ""), ("client_type", "public"), ("grant_type", "implicit"), ("scope", "nope")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("There are 3 problems"), "{}", answer.text);
    assert!(app.store.list_applications().await.unwrap().is_empty(), "nothing was written");
}

async fn other_users_applications_are_not_found(backend: Backend) {
    let app = every_grant(backend).await;
    let bob = logged_in(&app, "bob").await;
    let (bobs, bobs_client) = register(&app, &bob, SERVICE).await;
    let alice = logged_in(&app, "alice").await;

    for missing in [bobs.id, bobs.id + 1000] {
        for template in [
            "/o/applications/{id}/",
            "/o/applications/{id}/update/",
            "/o/applications/{id}/delete/",
            "/o/applications/{id}",
        ] {
            let page = path(template, missing);
            let answer = alice.get(&page).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{page}");
            assert!(!answer.text.contains("Billing service"), "{page} reveals the application");
        }
        let posts: [(&str, &[(&str, &str)]); 3] = [
            (
                "/o/applications/{id}/update/",
                &[("name", "Stolen"), ("client_type", "public"), ("grant_type", "password")],
            ),
            ("/o/applications/{id}/delete/", &[]),
            ("/o/applications/{id}/secret/", &[]),
        ];
        for (template, fields) in posts {
            let action = path(template, missing);
            let answer = alice.submit("/o/applications/", &action, fields).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{action}");
        }
    }
    for junk in [
        "/o/applications/abc/",
        "/o/applications/0/",
        "/o/applications/-1/update/",
        "/o/applications/99999999999999999999/",
    ] {
        assert_eq!(alice.get(junk).await.status, StatusCode::NOT_FOUND, "{junk}");
    }
    let list = alice.get("/o/applications/").await;
    assert!(!list.text.contains("Billing service") && !list.text.contains(&bobs.client_id));

    let after = app.store.application_by_client_id(&bobs.client_id).await.unwrap().unwrap();
    assert_eq!(after, bobs, "nothing changed");
    app.client_credentials(&bobs_client).await;
    assert_eq!(bob.get(&path("/o/applications/{id}/", bobs.id)).await.status, StatusCode::OK, "the owner still can");
}

async fn forms_without_their_csrf_token_change_nothing(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    let (stored, client) = register(&app, &browser, SERVICE).await;
    let update = [("name", "Changed"), ("client_type", "confidential"), ("grant_type", "password")];
    for token in [None, Some("wrong"), Some("")] {
        let with = |fields: &[(&'static str, &'static str)]| {
            let mut fields = fields.to_vec();
            if let Some(token) = token {
                fields.push(("csrf_token", token));
            }
            fields
        };
        let register = browser.post(REGISTER, &with(SERVICE)).await;
        assert_eq!(register.status, StatusCode::FORBIDDEN, "{token:?}");
        assert!(register.text.contains("Reload the page"));
        for (template, fields) in [
            ("/o/applications/{id}/update/", &update[..]),
            ("/o/applications/{id}/delete/", &[]),
            ("/o/applications/{id}/secret/", &[]),
        ] {
            let action = path(template, stored.id);
            assert_eq!(browser.post(&action, &with(fields)).await.status, StatusCode::FORBIDDEN, "{action} {token:?}");
        }
    }
    // Another session's token is no better.
    let other = logged_in(&app, "bob").await;
    let bobs_token = csrf_token(&other.get("/o/applications/").await.text);
    let answer = browser.post(&path("/o/applications/{id}/delete/", stored.id), &[("csrf_token", &bobs_token)]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    let apps = app.store.list_applications().await.unwrap();
    assert_eq!(apps, vec![stored], "nothing registered, changed or deleted");
    app.client_credentials(&client).await;
}

async fn edit_an_application(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    let (stored, client) = register(&app, &browser, SERVICE).await;
    let edit = path("/o/applications/{id}/update/", stored.id);

    let form = browser.get(&edit).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("value=\"Billing service\""), "the form starts from the stored values");
    assert!(form.text.contains("value=\"client-credentials\" checked"), "{}", form.text);
    assert!(form.text.contains(&stored.client_id), "the client id is shown, not editable");
    assert!(!form.text.contains("name=\"client_id\""));

    app.clock.advance(60);
    let answer = browser
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Billing"),
                ("client_type", "confidential"),
                ("grant_type", "client-credentials"),
                ("grant_type", "authorization-code"),
                ("redirect_uris", "https://billing.example/cb"),
                ("allowed_origins", "https://billing.example"),
                ("scope", "read"),
                ("algorithm", "EdDSA"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let detail = path("/o/applications/{id}/", stored.id);
    assert_eq!(answer.location(), format!("{detail}?done=updated"));
    let page = browser.get(&answer.location()).await;
    assert!(page.text.contains("Your changes are saved."));
    assert!(page.text.contains("<h1>Billing</h1>"));

    let after = app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap();
    assert_eq!(after.id, stored.id);
    assert_eq!(after.settings.name, "Billing");
    assert_eq!(after.settings.grant_types, vec![GrantType::AuthorizationCode, GrantType::ClientCredentials]);
    assert_eq!(after.settings.redirect_uris, vec!["https://billing.example/cb"]);
    assert_eq!(after.settings.allowed_origins, vec!["https://billing.example"]);
    assert_eq!(after.settings.allowed_scopes.as_ref().map(ToString::to_string).as_deref(), Some("read"));
    assert_eq!(after.settings.algorithm.as_str(), "EdDSA");
    assert_eq!(after.client_secret_hash, stored.client_secret_hash, "the secret is kept");
    assert_eq!((after.created_at, after.updated_at), (stored.created_at, stored.created_at + 60));
    app.client_credentials(&client).await;

    // A bad edit re-shows the form with what was entered, and changes nothing.
    let bad = browser
        .submit(
            &edit,
            &edit,
            &[("name", "Billing 2"), ("client_type", "confidential"), ("grant_type", "authorization-code")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("value=\"Billing 2\"") && bad.text.contains("needs at least one redirect URI"));
    assert_eq!(app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap(), after);
    // The path without its trailing slash works too.
    let bare = edit.trim_end_matches('/');
    let again = browser
        .submit(bare, bare, &[("name", "Billing 3"), ("client_type", "confidential"), ("grant_type", "password")])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap().settings.name,
        "Billing 3"
    );
}

async fn client_type_changes_make_or_drop_the_secret(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    app.user("carol").await;
    let (stored, old) = register(&app, &browser, SERVICE).await;
    let edit = path("/o/applications/{id}/update/", stored.id);

    // Confidential to public: the secret goes.
    let public =
        browser.submit(&edit, &edit, &[("name", "Shop"), ("client_type", "public"), ("grant_type", "password")]).await;
    assert_eq!(public.status, StatusCode::SEE_OTHER, "{}", public.text);
    let after = app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap();
    assert_eq!(after.settings.client_type, ClientType::Public);
    assert!(after.client_secret_hash.is_none());
    let old_secret = old.secret.clone().unwrap();
    let form = [
        ("grant_type", "password"),
        ("username", "carol"),
        ("password", PASSWORD),
        ("client_id", stored.client_id.as_str()),
    ];
    app.post_form("/o/token/", None, &form).await.assert_token();
    assert_ne!(
        app.token(&old, &[("grant_type", "password"), ("username", "carol"), ("password", PASSWORD)]).await.status,
        StatusCode::OK
    );

    // Public to confidential: a new secret, shown once.
    let page = browser
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Shop"),
                ("client_type", "confidential"),
                ("grant_type", "password"),
                ("grant_type", "client-credentials"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let secret = code_text(&page.text, "client-secret").expect("the new secret is shown");
    assert_ne!(secret, old_secret);
    assert!(page.text.contains("now confidential"));
    let client = Client { client_id: stored.client_id.clone(), secret: Some(secret.clone()) };
    app.client_credentials(&client).await;
    let detail = browser.get(&path("/o/applications/{id}/", stored.id)).await;
    assert!(!detail.text.contains(&secret), "shown once");
    // Saving a confidential client again keeps its secret.
    let same = browser
        .submit(
            &edit,
            &edit,
            &[("name", "Shop!"), ("client_type", "confidential"), ("grant_type", "client-credentials")],
        )
        .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER);
    app.client_credentials(&client).await;
}

async fn regenerate_the_secret(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    let (stored, old) = register(&app, &browser, SERVICE).await;
    app.client_credentials(&old).await;
    let detail = path("/o/applications/{id}/", stored.id);
    let action = path("/o/applications/{id}/secret/", stored.id);
    assert!(unescape(&browser.get(&detail).await.text).contains(&format!("action=\"{action}\"")));

    app.clock.advance(5);
    let page = browser.submit(&detail, &action, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let secret = code_text(&page.text, "client-secret").expect("the new secret is shown");
    assert_ne!(Some(&secret), old.secret.as_ref());
    assert!(page.text.contains("The old one no longer works."));
    assert!(page.text.contains("data-copy=\"client-secret\""));

    app.token(&old, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
    let new = Client { client_id: stored.client_id.clone(), secret: Some(secret.clone()) };
    app.client_credentials(&new).await;
    assert!(!browser.get(&detail).await.text.contains(&secret), "shown once");
    let after = app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap();
    assert_eq!(after.updated_at, stored.updated_at + 5);

    // A public client has no secret to regenerate.
    let (public, _) =
        register(&app, &browser, &[("name", "SPA"), ("client_type", "public"), ("grant_type", "password")]).await;
    let refused = browser.submit(&detail, &path("/o/applications/{id}/secret/", public.id), &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(app.store.application_by_client_id(&public.client_id).await.unwrap().unwrap().client_secret_hash.is_none());
}

async fn delete_an_application_and_its_tokens(backend: Backend) {
    let app = every_grant(backend).await;
    let browser = logged_in(&app, "alice").await;
    let (stored, client) = register(&app, &browser, SERVICE).await;
    let (kept, kept_client) = register(
        &app,
        &browser,
        &[("name", "Kept"), ("client_type", "confidential"), ("grant_type", "client-credentials")],
    )
    .await;
    let token = app.client_credentials(&client).await["access_token"].as_str().unwrap().to_owned();
    let password = app.password_token(&client, "alice", None).await;
    let kept_token = app.client_credentials(&kept_client).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.status_with_token("/api/hello/", &token).await, StatusCode::OK);

    let confirm = path("/o/applications/{id}/delete/", stored.id);
    let page = browser.get(&confirm).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Delete Billing service?") && page.text.contains("cannot be undone"));
    assert!(page.text.contains("<button type=\"submit\" class=\"danger\">"));
    assert!(app.store.application_by_client_id(&stored.client_id).await.unwrap().is_some(), "asking deletes nothing");

    let answer = browser.submit(&confirm, &confirm, &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), "/o/applications/?done=deleted");
    let list: Answer = browser.get(&answer.location()).await;
    assert!(list.text.contains("The application is deleted"));
    assert!(!list.text.contains("Billing service") && list.text.contains("Kept"));

    assert!(app.store.application_by_client_id(&stored.client_id).await.unwrap().is_none());
    assert_eq!(app.status_with_token("/api/hello/", &token).await, StatusCode::UNAUTHORIZED, "its tokens stop working");
    let access = password["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/hello/", access).await, StatusCode::UNAUTHORIZED);
    app.token(&client, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
    assert_eq!(browser.get(&path("/o/applications/{id}/", stored.id)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.submit("/o/applications/", &confirm, &[]).await.status, StatusCode::NOT_FOUND, "deleting twice");
    assert_eq!(
        app.status_with_token("/api/hello/", &kept_token).await,
        StatusCode::OK,
        "other applications are untouched"
    );
    assert_eq!(app.store.applications_owned_by(stored.owner_id.unwrap()).await.unwrap(), vec![kept]);
}

/// The authorize request an attacker sends a logged-in victim: every scope, PKCE (the
/// attacker holds the verifier), their own redirect URI.
fn attack_url(client_id: &str, redirect_uri: &str) -> String {
    let p = crate::authorize::pkce();
    let client = Client { client_id: client_id.to_owned(), secret: None };
    crate::authorize::authorize_url(
        &client,
        &[
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "read write groups"),
            ("state", "s"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Whether the authorize request answered with the consent page, not a redirect.
async fn shows_consent(browser: &Browser, url: &str) -> bool {
    let answer = browser.get(url).await;
    let location = answer.header("location").map(str::to_owned);
    assert!(location.as_deref().is_none_or(|l| !l.contains("code=")), "a code was sent: {location:?}");
    answer.status == StatusCode::OK && answer.text.contains("Authorize ")
}

/// The attack: an ordinary user registered an application with
/// `skip_authorization=on` and a redirect URI of their own, so that a logged-in victim
/// who opened one link was sent there with a code, no page shown. Only staff may let an
/// application skip consent; what a user registers acts only for people who consent.
async fn ordinary_users_cannot_make_an_application_skip_consent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mallory = logged_in(&app, "mallory").await;
    let callback = "https://mallory.example/cb";
    let attack: Fields = vec![
        ("name", "Photo Printer"),
        ("client_type", "public"),
        ("grant_type", "authorization-code"),
        ("redirect_uris", callback),
        ("skip_authorization", "on"),
    ];
    let refused = mallory.submit(REGISTER, REGISTER, &attack).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("Only staff can let an application skip the consent page."), "{}", refused.text);
    assert!(refused.text.contains("href=\"#skip_authorization\""), "the summary links to the field");
    assert!(app.store.list_applications().await.unwrap().is_empty(), "refused, never stored");

    // Registered without it, and then edited to skip consent: refused again.
    let plain: Fields = attack.iter().copied().filter(|(k, _)| *k != "skip_authorization").collect();
    let (stored, _) = register(&app, &mallory, &plain).await;
    assert!(!stored.settings.skip_authorization);
    let edit = path("/o/applications/{id}/update/", stored.id);
    let again = mallory.submit(&edit, &edit, &attack).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.text);
    assert!(again.text.contains("Only staff can let an application skip the consent page."));
    let after = app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap();
    assert_eq!(after, stored, "nothing changed");

    // The victim who opens the link is asked, and no code goes to the attacker.
    let victim = logged_in(&app, "alice").await;
    assert!(shows_consent(&victim, &attack_url(&stored.client_id, callback)).await, "the consent page is shown");
}

async fn only_staff_are_offered_skip_authorization_and_every_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = logged_in(&app, "alice").await;
    let form = unescape(&user.get(REGISTER).await.text);
    assert!(!form.contains("name=\"skip_authorization\""), "no checkbox for a user who is not staff");
    for offered in ["authorization-code", "device-code", "implicit", "openid-hybrid"] {
        assert!(form.contains(&format!("value=\"{offered}\"")), "{offered} offered");
    }
    for kept in ["password", "client-credentials"] {
        assert!(!form.contains(&format!("value=\"{kept}\"")), "{kept} not offered");
    }
    assert!(form.contains("Only staff can give an application the"), "the form says why");

    let staff = staff_logged_in(&app, "root").await;
    let form = unescape(&staff.get(REGISTER).await.text);
    assert!(form.contains("name=\"skip_authorization\""), "staff choose whether people are asked");
    for grant in GrantType::ALL {
        assert!(form.contains(&format!("value=\"{grant}\"")), "{grant} offered to staff");
    }
    assert!(!form.contains("Only staff can give"));
    // And what staff choose here is stored, as on the admin pages.
    let (stored, client) = register(
        &app,
        &staff,
        &[
            ("name", "Intranet"),
            ("client_type", "confidential"),
            ("grant_type", "authorization-code"),
            ("grant_type", "client-credentials"),
            ("redirect_uris", "https://intranet.example/cb"),
            ("skip_authorization", "on"),
        ],
    )
    .await;
    assert!(stored.settings.skip_authorization);
    assert_eq!(stored.settings.grant_types, vec![GrantType::AuthorizationCode, GrantType::ClientCredentials]);
    app.client_credentials(&client).await;
    let edit = unescape(&staff.get(&path("/o/applications/{id}/update/", stored.id)).await.text);
    assert!(edit.contains("name=\"skip_authorization\" value=\"on\" checked"), "{edit}");
}

async fn self_service_grant_types_are_honoured(backend: Backend) {
    // The default: no password or client-credentials grant from the self-service form.
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app, "alice").await;
    for (grant, fields) in [
        ("password", vec![("name", "Phisher"), ("client_type", "public"), ("grant_type", "password")]),
        (
            "client-credentials",
            vec![("name", "Robot"), ("client_type", "confidential"), ("grant_type", "client-credentials")],
        ),
    ] {
        let answer = browser.submit(REGISTER, REGISTER, &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{grant}: {}", answer.text);
        let text = unescape(&answer.text);
        let message = format!("Only staff can give an application the {grant} grant (you may choose: ");
        assert!(text.contains(&message), "{text}");
        assert!(answer.text.contains("id=\"grant_type-error\""));
    }
    assert!(app.store.list_applications().await.unwrap().is_empty());
    let (device, _) =
        register(&app, &browser, &[("name", "TV"), ("client_type", "public"), ("grant_type", "device-code")]).await;
    assert_eq!(device.settings.grant_types, vec![GrantType::DeviceCode]);

    // A setting of its own: what it names, and nothing else.
    let app = TestApp::spawn_with(backend, |c| {
        c.pages.self_service_grant_types = vec!["authorization-code".into(), "password".into()];
    })
    .await;
    let browser = logged_in(&app, "alice").await;
    let form = browser.get(REGISTER).await.text;
    assert!(form.contains("value=\"password\"") && form.contains("value=\"authorization-code\""));
    assert!(!form.contains("value=\"device-code\"") && !form.contains("value=\"client-credentials\""));
    let (stored, _) =
        register(&app, &browser, &[("name", "CLI"), ("client_type", "public"), ("grant_type", "password")]).await;
    assert_eq!(stored.settings.grant_types, vec![GrantType::Password]);
    let refused = browser
        .submit(REGISTER, REGISTER, &[("name", "TV"), ("client_type", "public"), ("grant_type", "device-code")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(unescape(&refused.text).contains("(you may choose: authorization-code, password)"), "{}", refused.text);
}

/// Staff gave alice's application the password grant and let it skip consent. She may
/// still rename it and keep both; changing where its codes go ends the skipping, and
/// what she gives up she cannot take back.
async fn owners_keep_what_staff_gave_until_they_widen_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app, "alice").await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();
    let callback = "https://shop.example/cb";
    let client = app
        .client_with(ClientType::Confidential, &[GrantType::AuthorizationCode, GrantType::Password], None, |a| {
            a.settings.name = "Shop".into();
            a.owner_id = Some(alice.id);
            a.settings.skip_authorization = true;
            a.settings.redirect_uris = vec![callback.into()];
        })
        .await;
    let stored = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    let edit = path("/o/applications/{id}/update/", stored.id);
    let form = unescape(&browser.get(&edit).await.text);
    assert!(form.contains("value=\"password\" checked"), "the grant staff gave is shown, checked");
    assert!(!form.contains("name=\"skip_authorization\""));
    assert!(form.contains("Staff let this application skip the consent page."), "{form}");

    // Renamed, everything else as the form sends it back: both kept.
    let same = [
        ("client_type", "confidential"),
        ("grant_type", "authorization-code"),
        ("grant_type", "password"),
        ("redirect_uris", callback),
    ];
    let renamed = browser.submit(&edit, &edit, &[&[("name", "Shop 2")], &same[..]].concat()).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.text);
    assert!(renamed.location().ends_with("?done=updated"));
    let after = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    assert_eq!((after.settings.name.as_str(), after.settings.skip_authorization), ("Shop 2", true));
    assert_eq!(after.settings.grant_types, stored.settings.grant_types);
    app.password_token(&client, "alice", None).await;

    // A redirect URI of hers, and people are asked again.
    let moved = [
        ("name", "Shop 2"),
        ("client_type", "confidential"),
        ("grant_type", "authorization-code"),
        ("grant_type", "password"),
        ("redirect_uris", "https://elsewhere.example/cb"),
    ];
    let answer = browser.submit(&edit, &edit, &moved).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert!(answer.location().ends_with("?done=consent"));
    assert!(browser.get(&answer.location()).await.text.contains("People will now be asked to consent"));
    let after = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    assert!(!after.settings.skip_authorization, "skipping ended with the new redirect URI");
    let victim = logged_in(&app, "bob").await;
    assert!(shows_consent(&victim, &attack_url(&client.client_id, "https://elsewhere.example/cb")).await);
    // Moving it back does not bring the skipping back: only staff give it.
    let back = browser.submit(&edit, &edit, &[&[("name", "Shop 2")], &same[..]].concat()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert!(!app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap().settings.skip_authorization);

    // Given up, the password grant stays given up.
    let code_only = [
        ("name", "Shop 2"),
        ("client_type", "confidential"),
        ("grant_type", "authorization-code"),
        ("redirect_uris", callback),
    ];
    assert_eq!(browser.submit(&edit, &edit, &code_only).await.status, StatusCode::SEE_OTHER);
    let again = browser.submit(&edit, &edit, &[&[("name", "Shop 2")], &same[..]].concat()).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(unescape(&again.text).contains("Only staff can give an application the password grant"));
    let after = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    assert_eq!(after.settings.grant_types, vec![GrantType::AuthorizationCode]);
}
