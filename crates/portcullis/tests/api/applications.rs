//! The application pages (`/o/applications/`): a user registers, sees, edits, re-keys
//! and deletes their own client applications, and nobody else's.

use portcullis::crypto::TokenHash;
use portcullis::store::{Application, ClientType, GrantType};
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
    let app = TestApp::spawn(backend).await;
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
    assert_eq!(stored.name, "Billing service");
    assert_eq!(stored.client_type, ClientType::Confidential);
    assert_eq!(stored.grant_types, vec![GrantType::Password, GrantType::ClientCredentials]);
    assert_eq!(stored.allowed_scopes.as_ref().map(ToString::to_string).as_deref(), Some("read write"));
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
    let browser = logged_in(&app, "alice").await;
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
    assert_eq!(stored.name, "Photo viewer");
    assert_eq!(stored.client_type, ClientType::Public);
    assert!(stored.client_secret_hash.is_none());
    assert_eq!(stored.grant_types, vec![GrantType::AuthorizationCode, GrantType::DeviceCode]);
    assert_eq!(stored.redirect_uris, vec!["https://photos.example/cb", "http://127.0.0.1:8400/cb"]);
    assert_eq!(stored.allowed_origins, vec!["https://photos.example", "http://localhost:3000"]);
    assert!(stored.allowed_scopes.is_none(), "none checked: every scope");
    assert!(stored.skip_authorization);
    assert_eq!(stored.algorithm, "ES256");
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
    let app = TestApp::spawn(backend).await;
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
    let app = TestApp::spawn(backend).await;
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
    let app = TestApp::spawn(backend).await;
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
    assert_eq!(after.name, "Billing");
    assert_eq!(after.grant_types, vec![GrantType::AuthorizationCode, GrantType::ClientCredentials]);
    assert_eq!(after.redirect_uris, vec!["https://billing.example/cb"]);
    assert_eq!(after.allowed_origins, vec!["https://billing.example"]);
    assert_eq!(after.allowed_scopes.as_ref().map(ToString::to_string).as_deref(), Some("read"));
    assert_eq!(after.algorithm, "EdDSA");
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
    assert_eq!(app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap().name, "Billing 3");
}

async fn client_type_changes_make_or_drop_the_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app, "alice").await;
    app.user("carol").await;
    let (stored, old) = register(&app, &browser, SERVICE).await;
    let edit = path("/o/applications/{id}/update/", stored.id);

    // Confidential to public: the secret goes.
    let public =
        browser.submit(&edit, &edit, &[("name", "Shop"), ("client_type", "public"), ("grant_type", "password")]).await;
    assert_eq!(public.status, StatusCode::SEE_OTHER, "{}", public.text);
    let after = app.store.application_by_client_id(&stored.client_id).await.unwrap().unwrap();
    assert_eq!(after.client_type, ClientType::Public);
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
    let app = TestApp::spawn(backend).await;
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
    let app = TestApp::spawn(backend).await;
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
