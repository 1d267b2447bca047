//! The behaviour every [`Store`] implementation must show, as checks that run against a
//! freshly migrated, empty store. The integration suite runs each against SQLite and,
//! when `TEST_DATABASE_URL` names a server, PostgreSQL.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use portcullis_axum::ScopeSet;

use super::*;
use crate::crypto::{Secret, TokenHash};

type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Every check, by name.
pub fn checks() -> Vec<(&'static str, Check)> {
    vec![
        ("users", |s| Box::pin(users(s))),
        ("applications", |s| Box::pin(applications(s))),
        ("access_tokens", |s| Box::pin(access_tokens(s))),
        ("refresh_rotation_and_reuse", |s| Box::pin(refresh_rotation_and_reuse(s))),
        ("refresh_grace_period", |s| Box::pin(refresh_grace_period(s))),
        ("refresh_without_rotation", |s| Box::pin(refresh_without_rotation(s))),
        ("concurrent_refresh_has_one_winner", |s| Box::pin(concurrent_refresh_has_one_winner(s))),
        ("clear_tokens", |s| Box::pin(clear_tokens(s))),
        ("delete_application_cascades", |s| Box::pin(delete_application_cascades(s))),
        ("codes_are_single_use", |s| Box::pin(codes_are_single_use(s))),
        ("consents", |s| Box::pin(consents(s))),
        ("sessions_and_login_failures", |s| Box::pin(sessions_and_login_failures(s))),
        // --- Application management and authorized-token pages ---
        // --- Admin pages ---
    ]
}

const NOW: i64 = 1_700_000_000;

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

fn new_app(client_id: &str) -> NewApplication {
    NewApplication {
        client_id: client_id.into(),
        client_secret_hash: Some(TokenHash::of("s3cret")),
        name: format!("App {client_id}"),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::Password, GrantType::ClientCredentials],
        redirect_uris: vec!["https://a.example/cb".into(), "http://127.0.0.1:9/cb".into()],
        allowed_scopes: Some(ScopeSet::from_tokens(["read", "write"])),
        skip_authorization: false,
        algorithm: "RS256".into(),
        owner_id: None,
        created_at: NOW,
    }
}

struct Fixture {
    app: Application,
    user: User,
}

async fn fixture(store: &dyn Store) -> anyhow::Result<Fixture> {
    let user = store.create_user(&new_user("alice")).await?;
    let app = store.create_application(&new_app("client-a")).await?;
    Ok(Fixture { app, user })
}

fn tokens(f: &Fixture, access: &str, refresh: Option<&str>, family: &str) -> NewTokens {
    NewTokens {
        application_id: f.app.id,
        user_id: Some(f.user.id),
        scope: "read".into(),
        created_at: NOW,
        access_hash: TokenHash::of(access),
        access_expires_at: NOW + 3600,
        code_id: None,
        refresh: refresh.map(|r| NewRefresh {
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

async fn users(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let alice = store.create_user(&new_user("alice")).await?;
    ensure!(alice.is_active && !alice.is_staff && alice.username == "alice");
    match store.create_user(&new_user("alice")).await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate username gave {other:?}"),
    }
    ensure!(store.user_by_id(alice.id).await?.as_ref() == Some(&alice));
    ensure!(store.user_by_username("alice").await?.as_ref() == Some(&alice));
    ensure!(store.user_by_username("Alice").await?.is_none(), "usernames are case-sensitive");
    let update = ProfileUpdate { first_name: Some("Alice".into()), last_name: None, email: Some("a@b.c".into()) };
    let updated = store.update_profile(alice.id, &update).await?.context("update lost the user")?;
    ensure!(updated.first_name == "Alice" && updated.last_name.is_empty() && updated.email == "a@b.c");
    ensure!(store.update_profile(alice.id + 100, &update).await?.is_none());
    store.add_user_to_group(alice.id, "staff").await?;
    store.add_user_to_group(alice.id, "admins").await?;
    store.add_user_to_group(alice.id, "staff").await?;
    ensure!(store.user_groups(alice.id).await? == vec!["admins".to_owned(), "staff".to_owned()]);
    Ok(())
}

async fn applications(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let mut public = new_app("client-b");
    public.client_type = ClientType::Public;
    public.client_secret_hash = None;
    public.allowed_scopes = None;
    public.grant_types = GrantType::ALL.to_vec();
    let a = store.create_application(&new_app("client-a")).await?;
    let b = store.create_application(&public).await?;
    ensure!(a.client_secret_hash.is_some_and(|h| h.ct_eq(&TokenHash::of("s3cret"))));
    ensure!(a.grant_types == vec![GrantType::Password, GrantType::ClientCredentials]);
    ensure!(a.redirect_uris == vec!["https://a.example/cb", "http://127.0.0.1:9/cb"]);
    ensure!(a.allowed_scopes.as_ref().map(ToString::to_string).as_deref() == Some("read write"));
    ensure!(b.client_type == ClientType::Public && b.client_secret_hash.is_none() && b.allowed_scopes.is_none());
    ensure!(b.grant_types == GrantType::ALL.to_vec());
    ensure!(store.application_by_client_id("client-a").await?.as_ref() == Some(&a));
    ensure!(store.application_by_client_id("client-x").await?.is_none());
    ensure!(store.list_applications().await?.iter().map(|x| x.id).collect::<Vec<_>>() == vec![a.id, b.id]);
    match store.create_application(&new_app("client-a")).await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate client id gave {other:?}"),
    }
    ensure!(store.delete_application("client-b").await?);
    ensure!(!store.delete_application("client-b").await?);
    ensure!(store.list_applications().await?.len() == 1);
    Ok(())
}

async fn access_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let mut cc = tokens(&f, "at-1", None, "");
    cc.user_id = None;
    store.insert_tokens(&cc).await?;
    let record = store.access_token(&TokenHash::of("at-1")).await?.context("token missing")?;
    ensure!(record.client_id == "client-a" && record.user_id.is_none() && record.user_active.is_none());
    ensure!(record.is_valid(NOW) && record.is_valid(NOW + 3599) && !record.is_valid(NOW + 3600));
    ensure!(store.access_token(&TokenHash::of("at-2")).await?.is_none());
    store.revoke_access_token(record.id, NOW + 5).await?;
    ensure!(!live_access(&*store, "at-1", NOW).await?);

    store.insert_tokens(&tokens(&f, "at-2", Some("rt-2"), "fam-2")).await?;
    let at = store.access_token(&TokenHash::of("at-2")).await?.context("token missing")?;
    ensure!(at.username.as_deref() == Some("alice") && at.user_active == Some(true));
    ensure!(at.refresh_family.as_deref() == Some("fam-2"));
    let rt = store.refresh_token(&TokenHash::of("rt-2")).await?.context("refresh missing")?;
    ensure!(rt.access_token_id == Some(at.id) && rt.scope == "read write" && rt.family == "fam-2");
    match store.insert_tokens(&tokens(&f, "at-2", None, "")).await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate token hash gave {other:?}"),
    }
    store.revoke_refresh_family("fam-2", NOW).await?;
    ensure!(!live_access(&*store, "at-2", NOW).await?);
    ensure!(store.refresh_token(&TokenHash::of("rt-2")).await?.is_some_and(|r| r.revoked_at.is_some()));
    Ok(())
}

async fn refresh_rotation_and_reuse(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_tokens(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    let rt1 = refresh_id(&*store, "rt-1").await?;
    let outcome =
        store.exchange_refresh_token(&exchange(rt1, NOW + 10, 0, true, tokens(&f, "at-2", Some("rt-2"), "x"))).await?;
    ensure!(outcome == RefreshOutcome::Issued);
    ensure!(!live_access(&*store, "at-1", NOW + 10).await?, "the old access token must be superseded");
    ensure!(live_access(&*store, "at-2", NOW + 10).await?);
    let rt2 = store.refresh_token(&TokenHash::of("rt-2")).await?.context("successor missing")?;
    ensure!(rt2.family == "fam" && rt2.parent_id == Some(rt1));

    // The rotated-out token again: reuse. The whole family dies, the successor too.
    let outcome =
        store.exchange_refresh_token(&exchange(rt1, NOW + 20, 0, true, tokens(&f, "at-3", Some("rt-3"), "x"))).await?;
    ensure!(outcome == RefreshOutcome::Reused);
    ensure!(store.access_token(&TokenHash::of("at-3")).await?.is_none(), "nothing issued on reuse");
    ensure!(!live_access(&*store, "at-2", NOW + 20).await?);
    let outcome = store
        .exchange_refresh_token(&exchange(rt2.id, NOW + 30, 0, true, tokens(&f, "at-4", Some("rt-4"), "x")))
        .await?;
    ensure!(outcome == RefreshOutcome::Dead);
    Ok(())
}

async fn refresh_grace_period(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_tokens(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    let rt1 = refresh_id(&*store, "rt-1").await?;
    let issued =
        store.exchange_refresh_token(&exchange(rt1, NOW, 60, true, tokens(&f, "at-2", Some("rt-2"), "x"))).await?;
    ensure!(issued == RefreshOutcome::Issued);
    // Within the grace period the client may retry; the answer it lost is replaced.
    let retried =
        store.exchange_refresh_token(&exchange(rt1, NOW + 30, 60, true, tokens(&f, "at-3", Some("rt-3"), "x"))).await?;
    ensure!(retried == RefreshOutcome::Issued);
    ensure!(!live_access(&*store, "at-2", NOW + 30).await? && live_access(&*store, "at-3", NOW + 30).await?);
    ensure!(store.refresh_token(&TokenHash::of("rt-2")).await?.is_some_and(|r| r.revoked_at.is_some()));
    // Once a successor has itself been used, the old token is a replay even in grace.
    let rt3 = refresh_id(&*store, "rt-3").await?;
    let next =
        store.exchange_refresh_token(&exchange(rt3, NOW + 40, 60, true, tokens(&f, "at-4", Some("rt-4"), "x"))).await?;
    ensure!(next == RefreshOutcome::Issued);
    let replay =
        store.exchange_refresh_token(&exchange(rt1, NOW + 50, 60, true, tokens(&f, "at-5", Some("rt-5"), "x"))).await?;
    ensure!(replay == RefreshOutcome::Reused);
    ensure!(!live_access(&*store, "at-4", NOW + 50).await?);
    // After the grace period, plain reuse.
    store.insert_tokens(&tokens(&f, "at-6", Some("rt-6"), "fam-6")).await?;
    let rt6 = refresh_id(&*store, "rt-6").await?;
    store.exchange_refresh_token(&exchange(rt6, NOW, 60, true, tokens(&f, "at-7", Some("rt-7"), "x"))).await?;
    let late =
        store.exchange_refresh_token(&exchange(rt6, NOW + 61, 60, true, tokens(&f, "at-8", Some("rt-8"), "x"))).await?;
    ensure!(late == RefreshOutcome::Reused);
    Ok(())
}

async fn refresh_without_rotation(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_tokens(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    let rt1 = refresh_id(&*store, "rt-1").await?;
    for (i, access) in ["at-2", "at-3"].into_iter().enumerate() {
        let outcome = store
            .exchange_refresh_token(&exchange(rt1, NOW + i as i64, 0, false, tokens(&f, access, None, "x")))
            .await?;
        ensure!(outcome == RefreshOutcome::Issued);
    }
    ensure!(!live_access(&*store, "at-2", NOW).await? && live_access(&*store, "at-3", NOW).await?);
    let rt = store.refresh_token(&TokenHash::of("rt-1")).await?.context("refresh missing")?;
    ensure!(rt.rotated_at.is_none() && rt.revoked_at.is_none());
    let at3 = store.access_token(&TokenHash::of("at-3")).await?.context("missing")?;
    ensure!(rt.access_token_id == Some(at3.id) && at3.refresh_family.as_deref() == Some("fam"));
    Ok(())
}

async fn concurrent_refresh_has_one_winner(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_tokens(&tokens(&f, "at-0", Some("rt-0"), "fam")).await?;
    let rt0 = refresh_id(&*store, "rt-0").await?;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let new = tokens(&f, &format!("at-{}", i + 1), Some(&format!("rt-{}", i + 1)), "x");
        tasks.push(tokio::spawn(async move { store.exchange_refresh_token(&exchange(rt0, NOW, 0, true, new)).await }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await?? == RefreshOutcome::Issued {
            winners += 1;
        }
    }
    ensure!(winners == 1, "{winners} concurrent exchanges won");
    // The losers presented a rotated-out token: reuse, so no chain is left alive.
    for i in 0..=8 {
        ensure!(!live_access(&*store, &format!("at-{i}"), NOW).await?, "at-{i} still live");
    }
    Ok(())
}

async fn clear_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_tokens(&tokens(&f, "live", Some("rt-live"), "fam-live")).await?;
    let mut expired = tokens(&f, "expired", None, "");
    expired.access_expires_at = NOW - 1;
    store.insert_tokens(&expired).await?;
    store.insert_tokens(&tokens(&f, "revoked", Some("rt-dead"), "fam-dead")).await?;
    store.revoke_refresh_family("fam-dead", NOW).await?;
    // A rotated family with a live member keeps its dead members for reuse detection.
    let rt = refresh_id(&*store, "rt-live").await?;
    store.exchange_refresh_token(&exchange(rt, NOW, 0, true, tokens(&f, "live-2", Some("rt-live-2"), "x"))).await?;

    let cleared = store.clear_tokens(NOW).await?;
    ensure!(cleared.access_tokens == 3, "{cleared:?}"); // expired, revoked, superseded "live"
    ensure!(cleared.refresh_tokens == 1, "{cleared:?}"); // rt-dead
    ensure!(store.refresh_token(&TokenHash::of("rt-live")).await?.is_some());
    ensure!(live_access(&*store, "live-2", NOW).await?);
    ensure!(store.clear_tokens(NOW).await? == Cleared::default(), "clearing is idempotent");
    Ok(())
}

async fn delete_application_cascades(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let secret = Secret::generate();
    let mut other = new_app("client-z");
    other.client_secret_hash = Some(secret.hash());
    store.create_application(&other).await?;
    store.insert_tokens(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    ensure!(store.delete_application("client-a").await?);
    ensure!(store.access_token(&TokenHash::of("at-1")).await?.is_none());
    ensure!(store.refresh_token(&TokenHash::of("rt-1")).await?.is_none());
    ensure!(store.application_by_client_id("client-z").await?.is_some());
    ensure!(store.user_by_id(f.user.id).await?.is_some(), "deleting an app keeps its users");
    Ok(())
}

fn new_code(f: &Fixture, code: &str, expires_at: i64) -> NewCode {
    NewCode {
        hash: TokenHash::of(code),
        application_id: f.app.id,
        user_id: f.user.id,
        redirect_uri: "https://a.example/cb".into(),
        scope: "read".into(),
        code_challenge: "c".repeat(43),
        code_challenge_method: "S256".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: NOW - 5,
        created_at: NOW,
        expires_at,
    }
}

async fn codes_are_single_use(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_code(&new_code(&f, "code-1", NOW + 60)).await?;
    let code = store.code(&TokenHash::of("code-1")).await?.context("code missing")?;
    ensure!(code.nonce.as_deref() == Some("n-0S6_WzA2Mj") && code.used_at.is_none());
    ensure!(code.redirect_uri == "https://a.example/cb");
    let mut bought = tokens(&f, "at-1", Some("rt-1"), "fam-1");
    bought.code_id = Some(code.id);
    ensure!(store.redeem_code(code.id, NOW + 1, &bought).await? == RedeemOutcome::Issued);
    ensure!(live_access(&*store, "at-1", NOW + 1).await?);
    // The refresh token from the code is rotated before the replay: the replay must
    // still reach the successor through the family.
    let rt1 = refresh_id(&*store, "rt-1").await?;
    store.exchange_refresh_token(&exchange(rt1, NOW + 2, 0, true, tokens(&f, "at-2", Some("rt-2"), "x"))).await?;
    let again = tokens(&f, "at-3", None, "");
    ensure!(store.redeem_code(code.id, NOW + 3, &again).await? == RedeemOutcome::Replayed);
    ensure!(store.access_token(&TokenHash::of("at-3")).await?.is_none(), "a replay buys nothing");
    ensure!(!live_access(&*store, "at-2", NOW + 3).await?, "a replay revokes what the code bought");
    ensure!(store.refresh_token(&TokenHash::of("rt-2")).await?.is_some_and(|r| r.revoked_at.is_some()));

    store.insert_code(&new_code(&f, "code-2", NOW + 60)).await?;
    let late = store.code(&TokenHash::of("code-2")).await?.context("code missing")?;
    ensure!(store.redeem_code(late.id, NOW + 60, &tokens(&f, "at-4", None, "")).await? == RedeemOutcome::Expired);
    ensure!(store.access_token(&TokenHash::of("at-4")).await?.is_none());
    match store.insert_code(&new_code(&f, "code-2", NOW + 60)).await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate code gave {other:?}"),
    }
    Ok(())
}

async fn consents(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    ensure!(store.consent(f.user.id, f.app.id).await?.is_none());
    store.save_consent(f.user.id, f.app.id, "read", NOW).await?;
    store.save_consent(f.user.id, f.app.id, "read write", NOW + 1).await?;
    ensure!(store.consent(f.user.id, f.app.id).await?.as_deref() == Some("read write"));
    Ok(())
}

async fn sessions_and_login_failures(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let session = NewSession {
        id_hash: TokenHash::of("sid"),
        user_id: Some(f.user.id),
        csrf_token: "csrf".into(),
        auth_time: Some(NOW),
        created_at: NOW,
        expires_at: NOW + 100,
    };
    store.create_session(&session).await?;
    let found = store.session(&TokenHash::of("sid"), NOW + 99).await?.context("session missing")?;
    ensure!(found.user_id == Some(f.user.id) && found.csrf_token == "csrf" && found.auth_time == Some(NOW));
    ensure!(store.session(&TokenHash::of("sid"), NOW + 100).await?.is_none(), "expired sessions are gone");
    store.delete_session(&TokenHash::of("sid")).await?;
    ensure!(store.session(&TokenHash::of("sid"), NOW).await?.is_none());

    let keys = vec!["user:alice".to_owned(), "addr:127.0.0.1".to_owned()];
    store.record_login_failure(&keys, NOW).await?;
    store.record_login_failure(&keys, NOW + 10).await?;
    ensure!(store.login_failures("user:alice", NOW).await? == 2);
    ensure!(store.login_failures("user:alice", NOW + 5).await? == 1);
    store.clear_login_failures("user:alice").await?;
    ensure!(store.login_failures("user:alice", 0).await? == 0);
    ensure!(store.login_failures("addr:127.0.0.1", 0).await? == 2);
    Ok(())
}
