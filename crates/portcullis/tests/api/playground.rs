//! The playground page (the flow itself runs in the browser test).

use portcullis::proto::{ClientType, GrantType};
use portcullis::store::ApplicationSettings;
use reqwest::StatusCode;

use crate::helpers::{Backend, Browser, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![playground_needs_a_login_and_lists_only_your_applications]
}

async fn playground_needs_a_login_and_lists_only_your_applications(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let callback = format!("{}/o/playground/callback/", app.base);
    for (owner, name, redirect) in [
        (alice.id, "Alice ready", callback.as_str()),
        (alice.id, "Alice elsewhere", "https://x.example/cb"),
        (bob.id, "Bob secret app", callback.as_str()),
    ] {
        let settings = ApplicationSettings {
            name: name.into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec![redirect.into()],
            ..ApplicationSettings::default()
        };
        let client_id = portcullis::crypto::random_alphanumeric(32);
        app.store.create_application(&client_id, None, Some(owner), &settings, app.clock_now()).await.unwrap();
    }
    let browser = Browser::new(&app);
    let anonymous = browser.get("/o/playground/").await;
    assert_eq!(anonymous.location(), "/accounts/login/?next=%2Fo%2Fplayground%2F");
    browser.login("alice", PASSWORD).await;
    let page = browser.get("/o/playground/").await;
    assert_eq!(page.status, StatusCode::OK);
    let text = page.text.replace("&#x2f;", "/");
    assert!(text.contains(&callback), "the redirect URI to register is shown");
    assert!(page.text.contains("Alice ready") && page.text.contains("Alice elsewhere"));
    assert!(page.text.contains("(needs the grant and redirect URI above)"));
    assert!(!page.text.contains("Bob secret app"), "only the user's own applications");
    assert_eq!(browser.get("/o/playground/callback/?code=x&state=y").await.status, StatusCode::OK);
    let script = browser.get("/static/playground.js").await;
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
}
