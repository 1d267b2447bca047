//! Introspection (RFC 7662).

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{read, Backend, Client, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        active_user_token,
        active_client_credentials_token,
        expired_and_revoked_tokens_are_inactive,
        callers_must_be_authorized,
        bearer_callers_need_the_introspection_scope,
        get_with_a_query_string,
        altered_tokens_are_inactive,
    ]
}

async fn active_user_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let alice = app.user("alice").await;
    let tokens = app.password_token(&client, "alice", Some("read write")).await;
    let answer = app.introspect(&client, tokens["access_token"].as_str().unwrap()).await;
    let now = app.clock_now();
    assert_eq!(
        answer,
        json!({
            "active": true,
            "scope": "read write",
            "client_id": client.client_id,
            "username": "alice",
            "token_type": "Bearer",
            "exp": now + 36000,
            "iat": now,
            "sub": alice.id.to_string(),
        })
    );
    // A refresh token is not an access token.
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(&client, rt).await, json!({"active": false}));
}

async fn active_client_credentials_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let resource_server = app.confidential().await;
    let tokens = app.client_credentials(&client).await;
    let answer = app.introspect(&resource_server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], client.client_id.as_str(), "sub is the client for its own tokens");
    assert!(answer.get("username").is_none());
}

async fn expired_and_revoked_tokens_are_inactive(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.access_token_expire_seconds = 60).await;
    let client = app.confidential().await;
    let first = app.client_credentials(&client).await;
    let second = app.client_credentials(&client).await;
    let (first, second) = (first["access_token"].as_str().unwrap(), second["access_token"].as_str().unwrap());
    app.post_form("/o/revoke_token/", Some(&client), &[("token", second)]).await;
    assert_eq!(app.introspect(&client, second).await, json!({"active": false}));
    assert_eq!(app.introspect(&client, first).await["active"], true);
    app.clock.advance(60);
    assert_eq!(app.introspect(&client, first).await, json!({"active": false}));
    assert_eq!(app.introspect(&client, "never-issued").await, json!({"active": false}));
}

/// Tokens begin with their creation time, which the stored key keeps in the clear in
/// front of the hash (see `crypto`). Changing that prefix, or any character of the
/// random part, must give a token that matches nothing, as must a well-formed token
/// that was never issued, and the real token must stay active throughout.
async fn altered_tokens_are_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let tokens = app.client_credentials(&client).await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(token.len(), portcullis::crypto::GENERATED_LEN);
    let altered = |at: usize| {
        let mut bytes = token.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };
    for forged in [altered(0), altered(11), altered(12), altered(token.len() - 1)] {
        assert_eq!(app.introspect(&client, &forged).await, json!({"active": false}), "{forged}");
    }
    let never_issued = portcullis::crypto::Secret::generate();
    assert_eq!(app.introspect(&client, never_issued.expose()).await, json!({"active": false}));
    assert_eq!(app.introspect(&client, &token[12..]).await, json!({"active": false}), "the random part alone");
    assert_eq!(app.introspect(&client, token).await["active"], true);
}

async fn callers_must_be_authorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let tokens = app.client_credentials(&client).await;
    let token = tokens["access_token"].as_str().unwrap();
    // RFC 7662 §2.1: "To prevent token scanning attacks, the endpoint MUST also require
    // some form of authorization to access this endpoint".
    app.post_form("/o/introspect/", None, &[("token", token)]).await.assert_error(401, "invalid_client");
    let wrong = Client { client_id: client.client_id.clone(), secret: Some("bad".into()) };
    let answer = app.post_form("/o/introspect/", Some(&wrong), &[("token", token)]).await;
    answer.assert_error(401, "invalid_client");
    assert!(answer.header("www-authenticate").unwrap().starts_with("Basic"));
    let public = app.client(ClientType::Public, &[GrantType::Password], None).await;
    app.post_form("/o/introspect/", None, &[("client_id", &public.client_id), ("token", token)])
        .await
        .assert_error(401, "invalid_client");
    app.post_form("/o/introspect/", Some(&client), &[]).await.assert_error(400, "invalid_request");
}

async fn bearer_callers_need_the_introspection_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let target = app.client_credentials(&client).await;
    let target = target["access_token"].as_str().unwrap();
    let scoped =
        app.token(&client, &[("grant_type", "client_credentials"), ("scope", "introspection")]).await.assert_token();
    let plain = app.token(&client, &[("grant_type", "client_credentials"), ("scope", "read")]).await.assert_token();
    let ask =
        |bearer: &str| app.http.post(app.url("/o/introspect/")).bearer_auth(bearer).form(&[("token", target)]).send();
    let ok = read(ask(scoped["access_token"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["active"], true);
    let forbidden = read(ask(plain["access_token"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.header("www-authenticate").unwrap().contains("insufficient_scope"));
    let unknown = read(ask("no-such-token").await.unwrap()).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

async fn get_with_a_query_string(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let tokens = app.client_credentials(&client).await;
    let answer = read(
        app.http
            .get(app.url("/o/introspect"))
            .basic_auth(&client.client_id, client.secret.as_deref())
            .query(&[("token", tokens["access_token"].as_str().unwrap())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["active"], true);
}
