//! Refreshing (RFC 6749 §6): rotation, grace period, reuse detection, narrowing, expiry.

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{read, Backend, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        rotation_and_reuse_detection,
        grace_period_allows_a_retry,
        without_rotation_the_refresh_token_stays,
        scope_may_narrow_but_not_widen,
        another_clients_refresh_token_is_invalid_grant,
        refresh_tokens_expire_per_the_setting,
        concurrent_refreshes_have_one_winner,
        public_clients_refresh_with_client_id,
        refresh_narrows_to_the_scope_the_application_is_allowed_now,
    ]
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

async fn refresh(app: &TestApp, client: &crate::helpers::Client, token: &str) -> crate::helpers::Answer {
    app.token(client, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

async fn rotation_and_reuse_detection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    let second = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotate_refresh_token is on by default");
    assert_eq!(second["scope"], "read");
    // The access token issued with the old refresh token is superseded.
    assert_eq!(app.status_with_token("/api/me/", s(&first["access_token"])).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.status_with_token("/api/me/", s(&second["access_token"])).await, StatusCode::OK);
    let third = refresh(&app, &client, s(&second["refresh_token"])).await.assert_token();

    // Presenting a rotated-out token again revokes the whole chain.
    refresh(&app, &client, s(&first["refresh_token"])).await.assert_error(400, "invalid_grant");
    assert_eq!(app.status_with_token("/api/me/", s(&third["access_token"])).await, StatusCode::UNAUTHORIZED);
    refresh(&app, &client, s(&third["refresh_token"])).await.assert_error(400, "invalid_grant");
}

async fn grace_period_allows_a_retry(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.refresh_token_grace_period_seconds = 30).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    let lost = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    app.clock.advance(10);
    // The client never saw `lost` and retries with the old token: it works, and the
    // answer it lost is withdrawn, so there is still one live chain.
    let retry = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    assert_eq!(app.status_with_token("/api/hello/", s(&lost["access_token"])).await, StatusCode::UNAUTHORIZED);
    refresh(&app, &client, s(&lost["refresh_token"])).await.assert_error(400, "invalid_grant");
    let next = refresh(&app, &client, s(&retry["refresh_token"])).await.assert_token();
    // Past the grace period the old token is a replay.
    app.clock.advance(31);
    refresh(&app, &client, s(&first["refresh_token"])).await.assert_error(400, "invalid_grant");
    assert_eq!(app.status_with_token("/api/hello/", s(&next["access_token"])).await, StatusCode::UNAUTHORIZED);
}

async fn without_rotation_the_refresh_token_stays(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.rotate_refresh_token = false).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    let second = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    assert_eq!(second["refresh_token"], first["refresh_token"]);
    let third = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    assert_eq!(app.status_with_token("/api/hello/", s(&second["access_token"])).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.status_with_token("/api/hello/", s(&third["access_token"])).await, StatusCode::OK);
}

async fn scope_may_narrow_but_not_widen(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", Some("read write")).await;
    // RFC 6749 §6: "The requested scope MUST NOT include any scope not originally
    // granted by the resource owner".
    let rt = s(&first["refresh_token"]);
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "read groups")])
        .await
        .assert_error(400, "invalid_scope");
    let narrow = app
        .token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "read")])
        .await
        .assert_token();
    assert_eq!(narrow["scope"], "read");
    // The grant keeps its full scope: the next refresh may ask for write again.
    let wide = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", s(&narrow["refresh_token"])), ("scope", "write read")],
        )
        .await
        .assert_token();
    assert_eq!(wide["scope"], "read write");
    // "if omitted is treated as equal to the scope originally granted"
    let same = refresh(&app, &client, s(&wide["refresh_token"])).await.assert_token();
    assert_eq!(same["scope"], "read write");
}

async fn another_clients_refresh_token_is_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.confidential().await;
    let thief = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&owner, "alice", None).await;
    refresh(&app, &thief, s(&first["refresh_token"])).await.assert_error(400, "invalid_grant");
    refresh(&app, &owner, "not-a-token").await.assert_error(400, "invalid_grant");
    // The failed attempt changed nothing for the owner.
    refresh(&app, &owner, s(&first["refresh_token"])).await.assert_token();
}

async fn refresh_tokens_expire_per_the_setting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.refresh_token_expire_seconds = 600).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    app.clock.advance(599);
    let second = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    app.clock.advance(600);
    refresh(&app, &client, s(&second["refresh_token"])).await.assert_error(400, "invalid_grant");
}

async fn concurrent_refreshes_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    let rt = s(&first["refresh_token"]).to_owned();
    let attempts = (0..6).map(|_| refresh(&app, &client, &rt));
    let answers = futures::future::join_all(attempts).await;
    let winners: Vec<_> = answers.iter().filter(|a| a.status == StatusCode::OK).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for loser in answers.iter().filter(|a| a.status != StatusCode::OK) {
        loser.assert_error(400, "invalid_grant");
    }
    // The losers replayed a rotated-out token, so no second chain survives: every
    // access token from this grant is dead.
    let winner = winners[0].json();
    assert_eq!(app.status_with_token("/api/hello/", s(&winner["access_token"])).await, StatusCode::UNAUTHORIZED);
}

async fn public_clients_refresh_with_client_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client(ClientType::Public, &[GrantType::Password], None).await;
    app.user("alice").await;
    let first = app.password_token(&client, "alice", None).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", client.client_id.as_str()),
        ("refresh_token", s(&first["refresh_token"])),
    ];
    app.post_form("/o/token/", None, &form).await.assert_token();
}

/// Staff take `write` from an application: a refresh of a grant made before must not
/// carry it on (the new token would still pass `PATCH /api/me/`).
async fn refresh_narrows_to_the_scope_the_application_is_allowed_now(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let patch = |token: String| {
        let request =
            app.http.patch(app.url("/api/me/")).bearer_auth(token).json(&serde_json::json!({"first_name": "A"}));
        async move { read(request.send().await.unwrap()).await.status }
    };
    let first = app.password_token(&client, "alice", Some("read write")).await;
    assert_eq!(patch(s(&first["access_token"]).to_owned()).await, StatusCode::OK);

    // What the application may have from now on.
    let allow = |scopes: Option<&'static str>| {
        let app = &app;
        let client_id = client.client_id.clone();
        async move {
            let stored = app.store.application_by_client_id(&client_id).await.unwrap().unwrap();
            let fields = portcullis::store::ApplicationSettings {
                allowed_scopes: scopes.map(|s| portcullis_axum::ScopeSet::parse(s).unwrap()),
                ..stored.settings
            };
            app.store.update_application(stored.id, &fields, app.clock_now()).await.unwrap().unwrap();
        }
    };
    allow(Some("read groups")).await;
    let second = refresh(&app, &client, s(&first["refresh_token"])).await.assert_token();
    assert_eq!(second["scope"], "read", "write is no longer the application's to have");
    assert_eq!(patch(s(&second["access_token"]).to_owned()).await, StatusCode::FORBIDDEN);
    assert_eq!(app.status_with_token("/api/me/", s(&second["access_token"])).await, StatusCode::OK);

    // RFC 6749 §5.2 invalid_scope: "The requested scope is invalid, unknown, malformed,
    // or exceeds the scope granted by the resource owner."
    let rt = s(&second["refresh_token"]);
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "write")])
        .await
        .assert_error(400, "invalid_scope");
    // The grant lost `write` for good: allowing it again does not bring it back.
    allow(None).await;
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("scope", "read write")])
        .await
        .assert_error(400, "invalid_scope");
    let third = refresh(&app, &client, rt).await.assert_token();
    assert_eq!(third["scope"], "read");

    // Nothing of the grant left: invalid_scope, not invalid_grant, since the refresh
    // token is still valid and this client's; the scope is what fails.
    allow(Some("groups")).await;
    refresh(&app, &client, s(&third["refresh_token"])).await.assert_error(400, "invalid_scope");
    allow(Some("read")).await;
    let fourth = refresh(&app, &client, s(&third["refresh_token"])).await.assert_token();
    assert_eq!(fourth["scope"], "read", "the refused refresh changed nothing");
}
