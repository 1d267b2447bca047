//! The behaviour every [`Store`] implementation must show, as checks that run against a
//! freshly migrated, empty store, one file per aggregate. The integration suite runs
//! each against SQLite and, when `TEST_DATABASE_URL` names a server, PostgreSQL.

mod applications;
mod audit;
mod codes;
mod device;
mod listings;
mod sessions;
mod tokens;
mod users;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use portcullis_axum::ScopeSet;

use super::*;
use crate::crypto::{Secret, TokenHash};
use crate::proto::{AccessTokenFormat, ClientType, CodeChallengeMethod, GrantType, SigningAlgorithm};

/// A check: passes, or says what the store got wrong.
pub type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Every check, by name.
pub fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("users", |s| Box::pin(users::users(s))),
        ("applications", |s| Box::pin(applications::applications(s))),
        ("access_tokens", |s| Box::pin(tokens::access_tokens(s))),
        ("refresh_rotation_and_reuse", |s| Box::pin(tokens::refresh_rotation_and_reuse(s))),
        ("refresh_grace_period", |s| Box::pin(tokens::refresh_grace_period(s))),
        ("refresh_without_rotation", |s| Box::pin(tokens::refresh_without_rotation(s))),
        ("concurrent_refresh_has_one_winner", |s| Box::pin(tokens::concurrent_refresh_has_one_winner(s))),
        ("clear_tokens", |s| Box::pin(tokens::clear_tokens(s))),
        ("resources_are_kept", |s| Box::pin(tokens::resources_are_kept(s))),
        ("device_grant_polls", |s| Box::pin(device::device_grant_polls(s))),
        ("delete_application_cascades", |s| Box::pin(applications::delete_application_cascades(s))),
        ("codes_are_single_use", |s| Box::pin(codes::codes_are_single_use(s))),
        ("consents", |s| Box::pin(codes::consents(s))),
        ("sessions_and_login_failures", |s| Box::pin(sessions::sessions_and_login_failures(s))),
        ("owned_applications", |s| Box::pin(applications::owned_applications(s))),
        ("authorized_applications_and_revoking", |s| Box::pin(codes::authorized_applications_and_revoking(s))),
        ("admin_user_listing", |s| Box::pin(listings::admin_user_listing(s))),
        ("admin_user_changes", |s| Box::pin(users::admin_user_changes(s))),
        ("admin_application_listing", |s| Box::pin(listings::admin_application_listing(s))),
        ("admin_token_listing", |s| Box::pin(listings::admin_token_listing(s))),
        ("active_sessions_and_pool_stats", |s| Box::pin(listings::active_sessions_and_pool_stats(s))),
        ("audit_events", |s| Box::pin(audit::audit_events(s))),
        ("audit_events_beside_tokens", |s| Box::pin(audit::audit_events_beside_tokens(s))),
    ]
}

const NOW: i64 = 1_700_000_000;

/// A consent to `scope` at any resource.
fn consent(scope: &str) -> Consent {
    Consent { scope: scope.into(), resource: String::new() }
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        first_name: String::new(),
        last_name: String::new(),
        password_hash: Some("$argon2id$fake".into()),
        is_staff: false,
        is_superuser: false,
        date_joined: NOW,
    }
}

/// The settings of the confidential application the checks register as `client_id`.
fn app_settings(client_id: &str) -> ApplicationSettings {
    ApplicationSettings {
        name: format!("App {client_id}"),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::Password, GrantType::ClientCredentials],
        redirect_uris: vec!["https://a.example/cb".into(), "http://127.0.0.1:9/cb".into()],
        allowed_scopes: Some(ScopeSet::from_tokens(["read", "write"])),
        ..ApplicationSettings::default()
    }
}

/// Registers `client_id` with [`app_settings`] and the secret `s3cret`, owned by nobody.
async fn new_app(store: &dyn Store, client_id: &str) -> Result<Application> {
    store.create_application(client_id, Some(&TokenHash::of("s3cret")), None, &app_settings(client_id), NOW).await
}

struct Fixture {
    app: Application,
    user: User,
}

async fn fixture(store: &dyn Store) -> anyhow::Result<Fixture> {
    let user = store.create_user(&new_user("alice")).await?;
    let app = new_app(store, "client-a").await?;
    Ok(Fixture { app, user })
}

fn tokens(f: &Fixture, access: &str, refresh: Option<&str>, family: &str) -> NewTokens {
    NewTokens {
        audience: String::new(),
        application_id: f.app.id,
        user_id: Some(f.user.id),
        scope: "read".into(),
        created_at: NOW,
        access_hash: TokenHash::of(access),
        access_expires_at: NOW + 3600,
        code_id: None,
        refresh: refresh.map(|r| NewRefresh {
            resource: String::new(),
            hash: TokenHash::of(r),
            expires_at: None,
            family: family.into(),
            scope: "read write".into(),
        }),
    }
}

async fn live_access(store: &dyn Store, token: &str, now: i64) -> anyhow::Result<bool> {
    Ok(store.access_token(&TokenHash::of(token)).await?.is_some_and(|t| t.is_valid(now)))
}

async fn refresh_id(store: &dyn Store, token: &str) -> anyhow::Result<i64> {
    Ok(store.refresh_token(&TokenHash::of(token)).await?.context("refresh token missing")?.id)
}

fn exchange(old_id: i64, now: i64, grace: i64, rotate: bool, new: NewTokens) -> RefreshExchange {
    RefreshExchange { old_id, now, grace_seconds: grace, rotate, new }
}

fn new_code(f: &Fixture, code: &str, expires_at: i64) -> NewCode {
    NewCode {
        resource: String::new(),
        hash: TokenHash::of(code),
        application_id: f.app.id,
        user_id: f.user.id,
        redirect_uri: "https://a.example/cb".into(),
        scope: "read".into(),
        code_challenge: Some(CodeChallenge { challenge: "c".repeat(43), method: CodeChallengeMethod::S256 }),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - 5,
        created_at: NOW,
        expires_at,
    }
}

fn fields(name: &str, client_type: ClientType) -> ApplicationSettings {
    ApplicationSettings {
        name: name.into(),
        client_type,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::Password],
        redirect_uris: vec!["https://a.example/cb".into()],
        post_logout_redirect_uris: vec!["https://a.example/bye".into()],
        allowed_origins: vec!["https://a.example".into(), "http://127.0.0.1:8080".into()],
        allowed_scopes: Some(ScopeSet::from_tokens(["read"])),
        skip_authorization: false,
        algorithm: SigningAlgorithm::Es256,
        access_token_format: AccessTokenFormat::Jwt,
        resource_server_uris: vec!["https://api.example/orders".into(), "urn:example:billing".into()],
    }
}

fn session_for(user_id: i64, id: &str) -> NewSession {
    NewSession {
        id_hash: TokenHash::of(id),
        user_id: Some(user_id),
        csrf_token: "csrf".into(),
        auth_time: Some(NOW),
        created_at: NOW,
        expires_at: NOW + 100,
    }
}
