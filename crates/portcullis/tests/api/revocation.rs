//! Revocation (RFC 7009).

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;

use crate::helpers::{Backend, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        revoking_an_access_token_makes_the_api_refuse_it,
        revoking_a_refresh_token_revokes_its_grant,
        unknown_tokens_and_other_clients_tokens_answer_200_and_change_nothing,
        revocation_requires_client_authentication,
        public_clients_revoke_their_own_tokens,
    ]
}

async fn revoking_an_access_token_makes_the_api_refuse_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let tokens = app.password_token(&client, "alice", None).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK);
    let answer = app
        .post_form("/o/revoke_token/", Some(&client), &[("token", access), ("token_type_hint", "access_token")])
        .await;
    // RFC 7009 §2.2: "The authorization server responds with HTTP status code 200 if the
    // token has been revoked successfully".
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let refused = app.get_with_token("/api/me/", access).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    assert_eq!(app.introspect(&client, access).await, serde_json::json!({"active": false}));
    // The refresh token still works: revoking an access token leaves its grant alone.
    let rt = tokens["refresh_token"].as_str().unwrap();
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await.assert_token();
}

async fn revoking_a_refresh_token_revokes_its_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let tokens = app.password_token(&client, "alice", None).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    // The hint is wrong on purpose: RFC 7009 §2.1 says the server "MUST extend its
    // search across all of its supported token types".
    let answer =
        app.post_form("/o/revoke_token/", Some(&client), &[("token", rt), ("token_type_hint", "access_token")]).await;
    assert_eq!(answer.status, StatusCode::OK);
    // "If the token passed to the request is a refresh token and the authorization
    // server supports the revocation of access tokens, then the authorization server
    // SHOULD also invalidate all access tokens based on the same authorization grant".
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::UNAUTHORIZED);
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .await
        .assert_error(400, "invalid_grant");
}

async fn unknown_tokens_and_other_clients_tokens_answer_200_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.confidential().await;
    let other = app.confidential().await;
    app.user("alice").await;
    let tokens = app.password_token(&owner, "alice", None).await;
    // RFC 7009 §2.2: "invalid tokens do not cause an error response".
    let unknown = app.post_form("/o/revoke_token/", Some(&owner), &[("token", "no-such-token")]).await;
    assert_eq!(unknown.status, StatusCode::OK);
    for token in [&tokens["access_token"], &tokens["refresh_token"]] {
        let answer = app.post_form("/o/revoke_token/", Some(&other), &[("token", token.as_str().unwrap())]).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert_eq!(app.status_with_token("/api/me/", tokens["access_token"].as_str().unwrap()).await, StatusCode::OK);
    let rt = tokens["refresh_token"].as_str().unwrap();
    app.token(&owner, &[("grant_type", "refresh_token"), ("refresh_token", rt)]).await.assert_token();
}

async fn revocation_requires_client_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let tokens = app.client_credentials(&client).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.post_form("/o/revoke_token/", None, &[("token", access)]).await.assert_error(401, "invalid_client");
    let wrong = crate::helpers::Client { client_id: client.client_id.clone(), secret: Some("bad".into()) };
    let answer = app.post_form("/o/revoke_token/", Some(&wrong), &[("token", access)]).await;
    answer.assert_error(401, "invalid_client");
    assert!(answer.header("www-authenticate").is_some());
    app.post_form("/o/revoke_token/", Some(&client), &[]).await.assert_error(400, "invalid_request");
    assert_eq!(app.status_with_token("/api/hello/", access).await, StatusCode::OK);
}

async fn public_clients_revoke_their_own_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client(ClientType::Public, &[GrantType::Password], None).await;
    app.user("alice").await;
    let tokens = app.password_token(&client, "alice", None).await;
    let access = tokens["access_token"].as_str().unwrap();
    let answer = app.post_form("/o/revoke_token/", None, &[("client_id", &client.client_id), ("token", access)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(app.status_with_token("/api/hello/", access).await, StatusCode::UNAUTHORIZED);
}
