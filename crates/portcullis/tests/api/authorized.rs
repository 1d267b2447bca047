//! The authorized-tokens pages (`/o/authorized_tokens/`): the applications a user has
//! let act for them, and taking that back (RFC 6749 §1.5).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::applications::{every_grant, logged_in, register, unescape};
use crate::helpers::{csrf_token, hidden_field, Backend, Browser, Client, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        authorized_apps_are_listed_and_revoked,
        revoking_needs_the_csrf_token_and_touches_only_the_user,
        consent_is_asked_again_after_revoking,
    ]
}

const LIST: &str = "/o/authorized_tokens/";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn revoke_path(application_id: i64) -> String {
    format!("/o/authorized_tokens/{application_id}/delete/")
}

/// Bob's application "Photo Printer", registered through the pages.
async fn bobs_printer(app: &TestApp, fields: &[(&str, &str)]) -> (portcullis::store::Application, Client) {
    let bob = logged_in(app, "bob").await;
    let mut all = vec![("name", "Photo Printer")];
    all.extend_from_slice(fields);
    register(app, &bob, &all).await
}

async fn refresh(app: &TestApp, client: &Client, token: &str) -> crate::helpers::Answer {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    match client.secret {
        Some(_) => app.token(client, &form).await,
        None => {
            app.post_form("/o/token/", None, &[&form[..], &[("client_id", client.client_id.as_str())]].concat()).await
        }
    }
}

async fn authorized_apps_are_listed_and_revoked(backend: Backend) {
    let app = every_grant(backend).await;
    let (printer, client) = bobs_printer(&app, &[("client_type", "confidential"), ("grant_type", "password")]).await;
    let (_, other_client) = register(
        &app,
        &logged_in(&app, "carol").await,
        &[("name", "Calendar"), ("client_type", "confidential"), ("grant_type", "password")],
    )
    .await;
    let browser = logged_in(&app, "alice").await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();

    let empty = browser.get(LIST).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text.contains("No application has access to your account."));

    let tokens = app.password_token(&client, "alice", Some("read write")).await;
    let (access, refresh_token) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    app.store
        .save_consent(
            alice.id,
            printer.id,
            &portcullis::store::Consent { scope: "read write".into(), resource: String::new() },
            app.clock_now(),
        )
        .await
        .unwrap();
    let calendar = app.password_token(&other_client, "alice", Some("groups")).await;
    let bobs = app.password_token(&client, "bob", Some("read")).await;

    let page = browser.get(LIST).await;
    assert_eq!(page.status, StatusCode::OK);
    let text = unescape(&page.text);
    for needed in [
        "Photo Printer",
        "Calendar",
        "<code>read</code> Read scope",
        "<code>write</code> Write scope",
        "<code>groups</code>",
        "2027-01-15 08:00 UTC",
    ] {
        assert!(text.contains(needed), "{needed} missing: {text}");
    }
    assert!(text.contains(&format!("action=\"{}\"", revoke_path(printer.id))));
    assert!(text.contains("aria-label=\"Revoke access for Photo Printer\""));
    assert!(text.find("Calendar") < text.find("Photo Printer"), "ordered by name");

    let answer = browser.submit(LIST, &revoke_path(printer.id), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(answer.location(), "/o/authorized_tokens/?done=revoked");
    let after = unescape(&browser.get(&answer.location()).await.text);
    assert!(after.contains("Access revoked."));
    assert!(!after.contains("Photo Printer") && after.contains("Calendar"));

    // The access token fails at once; the refresh token buys nothing; the consent is gone.
    let me = app.get_with_token("/api/me/", access).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert!(me.header("www-authenticate").unwrap().contains("invalid_token"));
    refresh(&app, &client, refresh_token).await.assert_error(400, "invalid_grant");
    assert!(app.store.consent(alice.id, printer.id).await.unwrap().is_none());
    // Other applications, and other people's grants, are untouched.
    let calendar_access = calendar["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/groups/", calendar_access).await, StatusCode::OK);
    assert_eq!(app.status_with_token("/api/me/", bobs["access_token"].as_str().unwrap()).await, StatusCode::OK);
    refresh(&app, &client, bobs["refresh_token"].as_str().unwrap()).await.assert_token();
    assert_eq!(app.store.application_by_client_id(&printer.client_id).await.unwrap().unwrap().id, printer.id);
}

async fn revoking_needs_the_csrf_token_and_touches_only_the_user(backend: Backend) {
    let app = every_grant(backend).await;
    let (printer, client) = bobs_printer(&app, &[("client_type", "confidential"), ("grant_type", "password")]).await;
    let browser = logged_in(&app, "alice").await;
    let tokens = app.password_token(&client, "alice", None).await;
    let access = tokens["access_token"].as_str().unwrap();
    let action = revoke_path(printer.id);

    for fields in [vec![], vec![("csrf_token", "wrong")], vec![("csrf_token", "")]] {
        let answer = browser.post(&action, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    let anonymous = Browser::new(&app);
    assert_eq!(anonymous.post(&action, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK, "nothing was revoked");

    // Junk ids name no page; another application's id changes nothing of hers.
    assert_eq!(browser.submit(LIST, "/o/authorized_tokens/abc/delete/", &[]).await.status, StatusCode::NOT_FOUND);
    let unknown = browser.submit(LIST, &revoke_path(printer.id + 1000), &[]).await;
    assert_eq!(unknown.status, StatusCode::SEE_OTHER);
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK);

    // Bob revoking his own access to his own application leaves Alice's alone.
    let bob = Browser::new(&app);
    bob.login("bob", crate::helpers::PASSWORD).await;
    let bobs = app.password_token(&client, "bob", None).await;
    assert_eq!(bob.submit(LIST, &action, &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.status_with_token("/api/me/", bobs["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK);

    // The path without its trailing slash works too.
    let bare = action.trim_end_matches('/');
    assert_eq!(browser.submit(LIST, bare, &[]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::UNAUTHORIZED);
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = portcullis::crypto::random_string(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

fn authorize_url(client: &Client, p: &Pkce) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("client_id", client.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "read"),
        ("code_challenge", &p.challenge),
        ("code_challenge_method", "S256"),
        ("approval_prompt", "auto"),
    ] {
        query.append_pair(k, v);
    }
    format!("/o/authorize/?{}", query.finish())
}

fn code_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code: {location}"))
}

/// Presses **Authorize** on the consent page; returns the code.
async fn consent(browser: &Browser, page: &str) -> String {
    let mut fields: Vec<(&str, String)> = vec![("csrf_token", csrf_token(page)), ("allow", "Authorize".into())];
    for name in ["client_id", "response_type", "scope", "redirect_uri", "code_challenge", "code_challenge_method"] {
        if let Some(value) = hidden_field(page, name) {
            fields.push((name, value));
        }
    }
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    code_of(&browser.post("/o/authorize/", &form).await.location())
}

async fn exchange(app: &TestApp, client: &Client, code: &str, p: &Pkce) -> crate::helpers::Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client.client_id.as_str()),
        ("code_verifier", p.verifier.as_str()),
    ];
    app.post_form("/o/token/", None, &form).await
}

async fn consent_is_asked_again_after_revoking(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (printer, client) = bobs_printer(
        &app,
        &[("client_type", "public"), ("grant_type", "authorization-code"), ("redirect_uris", REDIRECT)],
    )
    .await;
    let browser = logged_in(&app, "alice").await;

    // First time: asked, and the consent is kept.
    let p = pkce();
    let page = browser.get(&authorize_url(&client, &p)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Authorize Photo Printer?"));
    let code = consent(&browser, &page.text).await;
    let tokens = exchange(&app, &client, &code, &p).await.assert_token();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK);
    // Asked again with approval_prompt=auto: straight back with a code, not exchanged yet.
    let p2 = pkce();
    let pending = code_of(&browser.get(&authorize_url(&client, &p2)).await.location());
    assert!(unescape(&browser.get(LIST).await.text).contains("Photo Printer"));

    let answer = browser.submit(LIST, &revoke_path(printer.id), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::UNAUTHORIZED);
    refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await.assert_error(400, "invalid_grant");
    exchange(&app, &client, &pending, &p2).await.assert_error(400, "invalid_grant");

    // Next time the application has to ask again.
    let p3 = pkce();
    let again = browser.get(&authorize_url(&client, &p3)).await;
    assert_eq!(again.status, StatusCode::OK, "the consent page, not a redirect");
    assert!(again.text.contains("Authorize Photo Printer?"));
    let code = consent(&browser, &again.text).await;
    exchange(&app, &client, &code, &p3).await.assert_token();
}
