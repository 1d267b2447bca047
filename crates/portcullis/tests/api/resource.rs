//! The example API and protected resources (RFC 6750).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{read, Backend, TestApp};

/// RFC 9728 §5.1: every challenge of the API names its metadata.
const METADATA: &str = r#"resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/api""#;

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        missing_and_invalid_tokens_get_rfc6750_challenges,
        me_needs_read_and_patch_needs_write,
        patch_me_validates_its_body,
        groups_need_the_groups_scope,
        tokens_without_a_user_get_a_clear_403,
        health_and_readiness,
    ]
}

async fn missing_and_invalid_tokens_get_rfc6750_challenges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // RFC 6750 §3.1: "If the request lacks any authentication information …, the
    // resource server SHOULD NOT include an error code or other error information."
    let none = read(app.http.get(app.url("/api/hello/")).send().await.unwrap()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), Some(format!("Bearer realm=\"api\", {METADATA}").as_str()));
    let basic = read(app.http.get(app.url("/api/hello/")).basic_auth("a", Some("b")).send().await.unwrap()).await;
    assert_eq!(basic.header("www-authenticate"), none.header("www-authenticate"));
    // invalid_token: "The access token provided is expired, revoked, malformed, or
    // invalid for other reasons. The resource SHOULD respond with the HTTP 401".
    let bad = app.get_with_token("/api/hello/", "not-a-real-token").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let invalid = format!("Bearer realm=\"api\", error=\"invalid_token\", {METADATA}");
    assert_eq!(bad.header("www-authenticate"), Some(invalid.as_str()));
    // invalid_request: "The resource server SHOULD respond with the HTTP 400".
    let malformed =
        read(app.http.get(app.url("/api/hello/")).header("authorization", "Bearer a b").send().await.unwrap()).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.header("www-authenticate").unwrap().contains("error=\"invalid_request\""));
}

async fn me_needs_read_and_patch_needs_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let alice = app.user("alice").await;
    app.store.add_user_to_group(alice.id, "staff").await.unwrap();
    let read_token = app.password_token(&client, "alice", Some("read")).await;
    let write_token = app.password_token(&client, "alice", Some("write")).await;
    let (read_token, write_token) =
        (read_token["access_token"].as_str().unwrap(), write_token["access_token"].as_str().unwrap());

    assert_eq!(app.status_with_token("/api/me", read_token).await, StatusCode::OK, "no trailing slash");
    let me = app.get_with_token("/api/me/", read_token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json(),
        json!({"id": alice.id, "username": "alice", "email": "alice@example.com", "first_name": "First",
               "last_name": "Last", "groups": ["staff"]})
    );
    // RFC 6750 §3.1 insufficient_scope: "The resource server SHOULD respond with the HTTP
    // 403 (Forbidden) status code and MAY include the "scope" attribute with the scope
    // necessary to access the protected resource."
    let forbidden = app.get_with_token("/api/me/", write_token).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.header("www-authenticate"),
        Some(format!("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read\", {METADATA}").as_str())
    );
    let patch = |token: &str| {
        app.http.patch(app.url("/api/me/")).bearer_auth(token).json(&json!({"first_name": "Alicia"})).send()
    };
    let refused = read(patch(read_token).await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.header("www-authenticate").unwrap().ends_with(&format!("scope=\"write\", {METADATA}")));
    let updated = read(patch(write_token).await.unwrap()).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json()["first_name"], "Alicia");
    assert_eq!(updated.json()["last_name"], "Last");
    assert_eq!(app.get_with_token("/api/me/", read_token).await.json()["first_name"], "Alicia");
}

async fn patch_me_validates_its_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let token = app.password_token(&client, "alice", Some("read write")).await;
    let token = token["access_token"].as_str().unwrap();
    let long = "x".repeat(151);
    for body in [
        json!({"username": "mallory"}),
        json!({"first_name": 5}),
        json!({"email": "not-an-address"}),
        json!({"last_name": long}),
    ] {
        let answer =
            read(app.http.patch(app.url("/api/me/")).bearer_auth(token).json(&body).send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {}", answer.text);
    }
    let me = app.get_with_token("/api/me/", token).await.json();
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("alice"), Some("alice@example.com")));
    assert_eq!(me["last_name"], "Last");
}

async fn groups_need_the_groups_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let alice = app.user("alice").await;
    app.store.add_user_to_group(alice.id, "editors").await.unwrap();
    app.store.add_user_to_group(alice.id, "admins").await.unwrap();
    let with = app.password_token(&client, "alice", Some("groups")).await;
    let without = app.password_token(&client, "alice", Some("read")).await;
    let ok = app.get_with_token("/api/groups/", with["access_token"].as_str().unwrap()).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json(), json!([{"name": "admins"}, {"name": "editors"}]));
    let no = app.get_with_token("/api/groups/", without["access_token"].as_str().unwrap()).await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    assert!(no.header("www-authenticate").unwrap().contains("scope=\"groups\""));
}

async fn tokens_without_a_user_get_a_clear_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let token = app.client_credentials(&client).await;
    let answer = app.get_with_token("/api/me/", token["access_token"].as_str().unwrap()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["error"], "no_user");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/readyz"] {
        let answer = read(app.http.get(app.url(path)).send().await.unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
    }
}
