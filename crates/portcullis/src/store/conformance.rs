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
        ("device_grant_polls", |s| Box::pin(device_grant_polls(s))),
        ("delete_application_cascades", |s| Box::pin(delete_application_cascades(s))),
        ("codes_are_single_use", |s| Box::pin(codes_are_single_use(s))),
        ("consents", |s| Box::pin(consents(s))),
        ("sessions_and_login_failures", |s| Box::pin(sessions_and_login_failures(s))),
        // --- Application management and authorized-token pages ---
        ("owned_applications", |s| Box::pin(owned_applications(s))),
        ("authorized_applications_and_revoking", |s| Box::pin(authorized_applications_and_revoking(s))),
        // --- Admin pages ---
        ("admin_user_listing", |s| Box::pin(admin_user_listing(s))),
        ("admin_user_changes", |s| Box::pin(admin_user_changes(s))),
        ("admin_application_listing", |s| Box::pin(admin_application_listing(s))),
        ("admin_token_listing", |s| Box::pin(admin_token_listing(s))),
        // --- Metrics ---
        ("active_sessions_and_pool_stats", |s| Box::pin(active_sessions_and_pool_stats(s))),
        // --- Audit log ---
        ("audit_events", |s| Box::pin(audit_events(s))),
        ("audit_events_beside_tokens", |s| Box::pin(audit_events_beside_tokens(s))),
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
        access_token_format: AccessTokenFormat::Opaque,
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

    // A host's account, mirrored under the host's id, then refreshed in place.
    let mut ada = crate::accounts::Account::new(alice.id + 1000, "ada");
    ada.email = "ada@host.example".into();
    store.link_user(&ada).await?;
    let row = store.user_by_id(ada.id).await?.context("the mirror row is missing")?;
    ensure!(row.username == "ada" && row.email == "ada@host.example" && row.is_active && row.password_hash.is_none());
    ada.username = "ada.l".into();
    ada.is_staff = true;
    store.link_user(&ada).await?;
    let row = store.user_by_id(ada.id).await?.context("the mirror row is missing")?;
    ensure!(row.username == "ada.l" && row.is_staff, "refreshed: {row:?}");
    ensure!(store.user_by_username("ada").await?.is_none(), "one row per account");
    let clash = crate::accounts::Account::new(ada.id + 1, "alice");
    ensure!(matches!(store.link_user(&clash).await, Err(StoreError::Conflict(_))), "usernames stay unique");
    ensure!(store.user_by_id(alice.id).await?.is_some_and(|u| u.password_hash.is_some()), "alice is untouched");
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
    store.insert_token(&cc).await?;
    let record = store.access_token(&TokenHash::of("at-1")).await?.context("token missing")?;
    ensure!(record.client_id == "client-a" && record.user_id.is_none() && record.user_active.is_none());
    ensure!(record.is_valid(NOW) && record.is_valid(NOW + 3599) && !record.is_valid(NOW + 3600));
    ensure!(store.access_token(&TokenHash::of("at-2")).await?.is_none());
    store.revoke_access_token(record.id, NOW + 5).await?;
    ensure!(!live_access(&*store, "at-1", NOW).await?);

    store.insert_token(&tokens(&f, "at-2", Some("rt-2"), "fam-2")).await?;
    let at = store.access_token(&TokenHash::of("at-2")).await?.context("token missing")?;
    ensure!(at.username.as_deref() == Some("alice") && at.user_active == Some(true));
    ensure!(at.refresh_family.as_deref() == Some("fam-2"));
    let rt = store.refresh_token(&TokenHash::of("rt-2")).await?.context("refresh missing")?;
    ensure!(rt.access_token_id == Some(at.id) && rt.scope == "read write" && rt.family == "fam-2");
    match store.insert_token(&tokens(&f, "at-2", None, "")).await {
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
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
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
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
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
    store.insert_token(&tokens(&f, "at-6", Some("rt-6"), "fam-6")).await?;
    let rt6 = refresh_id(&*store, "rt-6").await?;
    store.exchange_refresh_token(&exchange(rt6, NOW, 60, true, tokens(&f, "at-7", Some("rt-7"), "x"))).await?;
    let late =
        store.exchange_refresh_token(&exchange(rt6, NOW + 61, 60, true, tokens(&f, "at-8", Some("rt-8"), "x"))).await?;
    ensure!(late == RefreshOutcome::Reused);
    Ok(())
}

async fn refresh_without_rotation(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
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
    store.insert_token(&tokens(&f, "at-0", Some("rt-0"), "fam")).await?;
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

/// RFC 8628: a device grant answers once, to one of any number of concurrent polls, with
/// tokens for the user who approved it; the interval is enforced per grant.
async fn device_grant_polls(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let grant = NewDeviceGrant {
        device_code_hash: TokenHash::of("dc"),
        user_code: "BCDFGHJK".into(),
        application_id: f.app.id,
        scope: "read".into(),
        interval_seconds: 5,
        created_at: NOW,
        expires_at: NOW + 600,
    };
    store.insert_device_grant(&grant).await?;
    let duplicate = NewDeviceGrant { device_code_hash: TokenHash::of("dc-2"), ..grant.clone() };
    ensure!(
        matches!(store.insert_device_grant(&duplicate).await, Err(StoreError::Conflict(_))),
        "user codes are unique"
    );
    let id = store.device_grant_by_user_code("BCDFGHJK").await?.context("grant lost")?.id;
    let mut anonymous = tokens(&f, "dev-0", Some("dev-rt-0"), "dev-fam-0");
    anonymous.user_id = None;
    ensure!(store.poll_device_grant(id, NOW, &anonymous).await? == DevicePoll::Pending);
    ensure!(store.poll_device_grant(id, NOW + 4, &anonymous).await? == DevicePoll::SlowDown);
    ensure!(store.device_grant_by_user_code("BCDFGHJK").await?.map(|g| g.interval_seconds) == Some(10));
    ensure!(store.decide_device_grant(id, f.user.id, true, NOW + 5).await?);
    ensure!(!store.decide_device_grant(id, f.user.id, false, NOW + 5).await?, "answered once");
    ensure!(
        store.poll_device_grant(id, NOW + 15, &anonymous).await? == DevicePoll::Pending,
        "tokens minted before the approval was seen are not handed out"
    );
    ensure!(store.access_token(&TokenHash::of("dev-0")).await?.is_none(), "nor stored");

    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let new = tokens(&f, &format!("dev-{}", i + 1), Some(&format!("dev-rt-{}", i + 1)), &format!("df-{i}"));
        tasks.push(tokio::spawn(async move { store.poll_device_grant(id, NOW + 30, &new).await }));
    }
    let mut issued = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if task.await?? == DevicePoll::Issued {
            issued.push(i + 1);
        }
    }
    ensure!(issued.len() == 1, "{} concurrent polls got tokens", issued.len());
    let winner = format!("dev-{}", issued[0]);
    let record = store.access_token(&TokenHash::of(&winner)).await?.context("the tokens were not stored")?;
    ensure!(record.user_id == Some(f.user.id), "the tokens are the approving user's");
    ensure!(store.poll_device_grant(id, NOW + 60, &anonymous).await? == DevicePoll::Gone, "used up");
    ensure!(store.poll_device_grant(id + 1000, NOW, &anonymous).await? == DevicePoll::Gone, "no such grant");
    Ok(())
}

async fn clear_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    store.insert_token(&tokens(&f, "live", Some("rt-live"), "fam-live")).await?;
    let mut expired = tokens(&f, "expired", None, "");
    expired.access_expires_at = NOW - 1;
    store.insert_token(&expired).await?;
    store.insert_token(&tokens(&f, "revoked", Some("rt-dead"), "fam-dead")).await?;
    store.revoke_refresh_family("fam-dead", NOW).await?;
    // A rotated family with a live member keeps its dead members for reuse detection.
    let rt = refresh_id(&*store, "rt-live").await?;
    store.exchange_refresh_token(&exchange(rt, NOW, 0, true, tokens(&f, "live-2", Some("rt-live-2"), "x"))).await?;
    // Device codes: one past its expiry, one still open.
    for (code, user_code, expires_at) in [("dc-old", "BCDFGHJK", NOW), ("dc-open", "BCDFGHJL", NOW + 1)] {
        store
            .insert_device_grant(&NewDeviceGrant {
                device_code_hash: TokenHash::of(code),
                user_code: user_code.into(),
                application_id: f.app.id,
                scope: "read".into(),
                interval_seconds: 5,
                created_at: NOW - 600,
                expires_at,
            })
            .await?;
    }

    let cleared = store.clear_tokens(NOW).await?;
    ensure!(cleared.device_grants == 1, "{cleared:?}");
    ensure!(store.device_grant_by_code(&TokenHash::of("dc-old")).await?.is_none());
    ensure!(store.device_grant_by_user_code("BCDFGHJL").await?.is_some(), "an open device code stays");
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
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
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

// --- Application management and authorized-token pages ---

fn fields(name: &str, client_type: ClientType) -> ApplicationFields {
    ApplicationFields {
        name: name.into(),
        client_type,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::Password],
        redirect_uris: vec!["https://a.example/cb".into()],
        post_logout_redirect_uris: vec!["https://a.example/bye".into()],
        allowed_origins: vec!["https://a.example".into(), "http://127.0.0.1:8080".into()],
        allowed_scopes: Some(ScopeSet::from_tokens(["read"])),
        skip_authorization: false,
        algorithm: "ES256".into(),
        access_token_format: AccessTokenFormat::Jwt,
    }
}

async fn owned_applications(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let alice = store.create_user(&new_user("alice")).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    let first = TokenHash::of("first");
    let a1 = store
        .register_application("a1", Some(&first), Some(alice.id), &fields("One", ClientType::Confidential), NOW)
        .await?;
    let a2 = store.register_application("a2", None, Some(alice.id), &fields("Two", ClientType::Public), NOW).await?;
    let b1 = store.register_application("b1", None, Some(bob.id), &fields("Bob's", ClientType::Public), NOW).await?;
    ensure!(a1.owner_id == Some(alice.id) && a1.client_id == "a1" && a1.name == "One");
    ensure!(a1.allowed_origins == vec!["https://a.example", "http://127.0.0.1:8080"]);
    ensure!(a1.post_logout_redirect_uris == vec!["https://a.example/bye"]);
    ensure!(a1.grant_types == vec![GrantType::AuthorizationCode, GrantType::Password] && a1.algorithm == "ES256");
    ensure!(a1.access_token_format == AccessTokenFormat::Jwt, "the token format round-trips");
    ensure!(a1.allowed_scopes.as_ref().map(ToString::to_string).as_deref() == Some("read"));
    ensure!(a1.client_secret_hash == Some(first) && a2.client_secret_hash.is_none());
    ensure!(a1.created_at == NOW && a1.updated_at == NOW);
    ensure!(store.application_by_client_id("a1").await?.as_ref() == Some(&a1));
    match store.register_application("a1", None, None, &fields("Again", ClientType::Public), NOW).await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate client id gave {other:?}"),
    }

    let ids = |apps: Vec<Application>| apps.into_iter().map(|a| a.id).collect::<Vec<_>>();
    ensure!(ids(store.applications_owned_by(alice.id).await?) == vec![a1.id, a2.id]);
    ensure!(ids(store.applications_owned_by(bob.id).await?) == vec![b1.id]);
    ensure!(store.applications_owned_by(bob.id + 100).await?.is_empty());
    ensure!(store.owned_application(alice.id, a1.id).await?.as_ref() == Some(&a1));
    ensure!(store.owned_application(bob.id, a1.id).await?.is_none(), "another owner's application");
    ensure!(store.owned_application(alice.id, b1.id + 100).await?.is_none());

    // Edits: only by the owner; the secret kept unless replaced, dropped for public.
    let mut changed = fields("One, renamed", ClientType::Confidential);
    changed.grant_types = vec![GrantType::ClientCredentials];
    changed.redirect_uris = vec![];
    changed.allowed_origins = vec![];
    changed.post_logout_redirect_uris = vec!["https://a.example/bye2".into()];
    changed.allowed_scopes = None;
    changed.skip_authorization = true;
    changed.algorithm = "EdDSA".into();
    changed.access_token_format = AccessTokenFormat::Opaque;
    ensure!(store.update_owned_application(bob.id, a1.id, &changed, None, NOW + 1).await?.is_none());
    ensure!(store.owned_application(alice.id, a1.id).await?.as_ref() == Some(&a1), "a refused edit changes nothing");
    let edited = store
        .update_owned_application(alice.id, a1.id, &changed, None, NOW + 10)
        .await?
        .context("edit lost the app")?;
    ensure!(edited.name == "One, renamed" && edited.grant_types == vec![GrantType::ClientCredentials]);
    ensure!(edited.redirect_uris.is_empty() && edited.allowed_origins.is_empty() && edited.allowed_scopes.is_none());
    ensure!(edited.post_logout_redirect_uris == vec!["https://a.example/bye2"]);
    ensure!(edited.skip_authorization && edited.algorithm == "EdDSA" && edited.client_id == "a1");
    ensure!(edited.access_token_format == AccessTokenFormat::Opaque);
    ensure!(edited.client_secret_hash == Some(first), "the secret is kept");
    ensure!(edited.created_at == NOW && edited.updated_at == NOW + 10 && edited.owner_id == Some(alice.id));
    let second = TokenHash::of("second");
    changed.client_type = ClientType::Public;
    let public = store.update_owned_application(alice.id, a1.id, &changed, Some(&second), NOW + 11).await?;
    ensure!(public.is_some_and(|a| a.client_type == ClientType::Public && a.client_secret_hash.is_none()));
    changed.client_type = ClientType::Confidential;
    let again = store.update_owned_application(alice.id, a1.id, &changed, Some(&second), NOW + 12).await?;
    ensure!(again.is_some_and(|a| a.client_secret_hash == Some(second)));

    // New secrets: the owner's confidential applications only.
    let third = TokenHash::of("third");
    ensure!(!store.replace_client_secret(bob.id, a1.id, &third, NOW + 20).await?);
    ensure!(!store.replace_client_secret(alice.id, a2.id, &third, NOW + 20).await?, "public clients have none");
    ensure!(store.owned_application(alice.id, a2.id).await?.is_some_and(|a| a.client_secret_hash.is_none()));
    ensure!(store.replace_client_secret(alice.id, a1.id, &third, NOW + 20).await?);
    let replaced = store.owned_application(alice.id, a1.id).await?.context("app missing")?;
    ensure!(replaced.client_secret_hash == Some(third) && replaced.updated_at == NOW + 20);

    // Staff edit any application, an owner's or none's; the client type and secret stay.
    let mut staff_edit = fields("Bob's, by staff", ClientType::Confidential);
    staff_edit.skip_authorization = true;
    staff_edit.grant_types = vec![GrantType::AuthorizationCode, GrantType::ClientCredentials];
    let by_staff = store.update_application(b1.id, &staff_edit, NOW + 30).await?.context("staff edit lost the app")?;
    ensure!(by_staff.name == "Bob's, by staff" && by_staff.skip_authorization && by_staff.owner_id == Some(bob.id));
    ensure!(by_staff.grant_types == staff_edit.grant_types && by_staff.allowed_scopes == staff_edit.allowed_scopes);
    ensure!(
        by_staff.redirect_uris == staff_edit.redirect_uris && by_staff.allowed_origins == staff_edit.allowed_origins
    );
    ensure!(by_staff.post_logout_redirect_uris == staff_edit.post_logout_redirect_uris);
    ensure!(by_staff.algorithm == "ES256" && by_staff.access_token_format == AccessTokenFormat::Jwt);
    ensure!(by_staff.client_type == ClientType::Public && by_staff.client_secret_hash.is_none(), "type kept");
    ensure!(by_staff.updated_at == NOW + 30 && by_staff.client_id == "b1");
    ensure!(store.application_by_id(b1.id).await?.as_ref() == Some(&by_staff));
    let ownerless = store.register_application("z1", None, None, &fields("None's", ClientType::Public), NOW).await?;
    ensure!(store.update_application(ownerless.id, &staff_edit, NOW + 31).await?.is_some_and(|a| a.skip_authorization));
    ensure!(store.update_application(ownerless.id + 1000, &staff_edit, NOW).await?.is_none());

    // Deleting: only by the owner, and it takes the tokens along.
    store
        .insert_token(&NewTokens {
            application_id: a1.id,
            user_id: Some(bob.id),
            scope: "read".into(),
            created_at: NOW,
            access_hash: TokenHash::of("at-a1"),
            access_expires_at: NOW + 3600,
            code_id: None,
            refresh: Some(NewRefresh {
                hash: TokenHash::of("rt-a1"),
                expires_at: None,
                family: "fam-a1".into(),
                scope: "read".into(),
            }),
        })
        .await?;
    ensure!(!store.delete_owned_application(bob.id, a1.id).await?);
    ensure!(store.delete_owned_application(alice.id, a1.id).await?);
    ensure!(!store.delete_owned_application(alice.id, a1.id).await?);
    ensure!(store.access_token(&TokenHash::of("at-a1")).await?.is_none());
    ensure!(store.refresh_token(&TokenHash::of("rt-a1")).await?.is_none());
    ensure!(ids(store.applications_owned_by(alice.id).await?) == vec![a2.id]);
    ensure!(ids(store.applications_owned_by(bob.id).await?) == vec![b1.id]);
    Ok(())
}

async fn authorized_applications_and_revoking(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?; // alice and "App client-a"
    let bob = store.create_user(&new_user("bob")).await?;
    let b = store.create_application(&new_app("client-b")).await?;
    let c = store.create_application(&new_app("client-c")).await?;
    ensure!(store.authorized_applications(f.user.id, NOW).await?.is_empty());

    // Alice: tokens for A (an access token with a refresh token, a later one with
    // another scope), a consent for B, and only dead tokens for C.
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam-1")).await?;
    let mut later = tokens(&f, "at-2", None, "");
    later.scope = "groups".into();
    later.created_at = NOW + 50;
    store.insert_token(&later).await?;
    store.save_consent(f.user.id, b.id, "read", NOW + 5).await?;
    store.save_consent(f.user.id, b.id, "read write", NOW + 7).await?;
    let mut expired = tokens(&f, "at-c1", None, "");
    expired.application_id = c.id;
    expired.access_expires_at = NOW + 1;
    store.insert_token(&expired).await?;
    let mut refresh_expired = tokens(&f, "at-c2", Some("rt-c2"), "fam-c2");
    refresh_expired.application_id = c.id;
    refresh_expired.access_expires_at = NOW + 1;
    if let Some(r) = refresh_expired.refresh.as_mut() {
        r.expires_at = Some(NOW + 2);
    }
    store.insert_token(&refresh_expired).await?;
    // Not Alice's: Bob's token for A, and a client-credentials token for C.
    let mut bobs = tokens(&f, "at-bob", Some("rt-bob"), "fam-bob");
    bobs.user_id = Some(bob.id);
    store.insert_token(&bobs).await?;
    let mut machine = tokens(&f, "at-cc", None, "");
    machine.application_id = c.id;
    machine.user_id = None;
    store.insert_token(&machine).await?;

    let listed = store.authorized_applications(f.user.id, NOW + 60).await?;
    let summary: Vec<(i64, String, i64, i64)> =
        listed.iter().map(|a| (a.application_id, a.scope.to_string(), a.first_granted_at, a.last_granted_at)).collect();
    ensure!(
        summary
            == vec![
                (f.app.id, "groups read write".to_owned(), NOW, NOW + 50),
                (b.id, "read write".to_owned(), NOW + 5, NOW + 7),
            ],
        "{summary:?}"
    );
    ensure!(listed[0].name == "App client-a" && listed[0].client_id == "client-a");
    ensure!(store.authorized_applications(bob.id, NOW).await?.len() == 1);

    // A rotated-out refresh token no longer counts; its successor does.
    let rt1 = refresh_id(&*store, "rt-1").await?;
    let mut successor = tokens(&f, "at-3", Some("rt-3"), "x");
    successor.created_at = NOW + 70;
    store.exchange_refresh_token(&exchange(rt1, NOW + 70, 0, true, successor)).await?;
    let listed = store.authorized_applications(f.user.id, NOW + 70).await?;
    ensure!(listed[0].first_granted_at == NOW + 50 && listed[0].last_granted_at == NOW + 70, "{listed:?}");

    // An authorization code not yet exchanged would buy tokens after the revocation.
    store.insert_code(&new_code(&f, "pending", NOW + 200)).await?;

    let taken = store.revoke_user_grants(f.user.id, f.app.id, NOW + 80).await?;
    // at-2, at-3, rt-1 (rotated out, not yet revoked) and rt-3; at-1 was already superseded.
    ensure!(taken == 4, "{taken} tokens and consents taken back");
    for token in ["at-1", "at-2", "at-3"] {
        ensure!(!live_access(&*store, token, NOW + 80).await?, "{token} still live");
    }
    for token in ["rt-1", "rt-3"] {
        ensure!(store.refresh_token(&TokenHash::of(token)).await?.is_some_and(|r| r.revoked_at.is_some()));
    }
    ensure!(store.code(&TokenHash::of("pending")).await?.is_none(), "the pending code is gone");
    ensure!(live_access(&*store, "at-bob", NOW + 80).await?, "Bob's grant is his own");
    ensure!(store.refresh_token(&TokenHash::of("rt-bob")).await?.is_some_and(|r| r.revoked_at.is_none()));
    ensure!(store.consent(f.user.id, b.id).await?.is_some(), "other applications keep their grants");
    let listed = store.authorized_applications(f.user.id, NOW + 80).await?;
    ensure!(listed.iter().map(|a| a.application_id).collect::<Vec<_>>() == vec![b.id]);

    ensure!(store.revoke_user_grants(f.user.id, b.id, NOW + 90).await? == 1, "the consent");
    ensure!(store.consent(f.user.id, b.id).await?.is_none());
    ensure!(store.authorized_applications(f.user.id, NOW + 90).await?.is_empty());
    ensure!(store.revoke_user_grants(f.user.id, b.id, NOW + 91).await? == 0, "nothing left to take back");
    ensure!(store.revoke_user_grants(f.user.id, c.id + 100, NOW + 91).await? == 0, "no such application");
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
    store.set_last_login(f.user.id, NOW + 7).await?;
    ensure!(store.user_by_id(f.user.id).await?.and_then(|u| u.last_login) == Some(NOW + 7));
    ensure!(store.session(&TokenHash::of("sid"), NOW).await?.is_none());

    let limits = [("user:alice", 2), ("addr:127.0.0.1", 3)];
    let first = store.reserve_login_attempt(&limits, NOW - 100, NOW).await?.context("under both limits")?;
    ensure!(first.len() == 2);
    store.reserve_login_attempt(&limits, NOW - 100, NOW + 10).await?.context("still under both limits")?;
    ensure!(store.login_failures("user:alice", NOW).await? == 2);
    ensure!(store.login_failures("user:alice", NOW + 5).await? == 1);
    // The account is at its limit: nothing is taken, not even the address's place.
    ensure!(store.reserve_login_attempt(&limits, NOW - 100, NOW + 20).await?.is_none());
    ensure!(store.login_failures("addr:127.0.0.1", 0).await? == 2, "a refused reservation writes nothing");
    // Places before `since` no longer count.
    ensure!(store.reserve_login_attempt(&limits, NOW + 5, NOW + 20).await?.is_some());
    // A place given back (the attempt succeeded) is no longer counted.
    store.release_login_attempts(&first).await?;
    ensure!(store.login_failures("user:alice", 0).await? == 2);
    ensure!(store.login_failures("addr:127.0.0.1", 0).await? == 2);
    store.clear_login_failures("user:alice").await?;
    ensure!(store.login_failures("user:alice", 0).await? == 0);
    ensure!(store.login_failures("addr:127.0.0.1", 0).await? == 2);

    // Concurrent reservations against one limit: exactly the limit get a place.
    let attempts = (0..24).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.reserve_login_attempt(&[("user:bob", 5)], NOW - 100, NOW).await })
    });
    let mut granted = 0;
    for attempt in attempts {
        if attempt.await??.is_some() {
            granted += 1;
        }
    }
    ensure!(granted == 5, "{granted} of 24 concurrent attempts got a place under a limit of 5");
    ensure!(store.login_failures("user:bob", 0).await? == 5);
    Ok(())
}

// --- Admin pages ---

async fn admin_user_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
    ensure!(store.count_users().await? == 0);
    ensure!(store.list_users("", 10, 0).await? == Listing { items: vec![], total: 0 });
    for name in ["carol", "a_b", "axb", "a%b", "Dave"] {
        store.create_user(&new_user(name)).await?;
    }
    let mut erin = new_user("erin");
    erin.email = "Erin.Smith@Example.org".into();
    store.create_user(&erin).await?;
    ensure!(store.count_users().await? == 6);
    let names = |l: &Listing<User>| l.items.iter().map(|u| u.username.clone()).collect::<Vec<_>>();

    let all = store.list_users("", 100, 0).await?;
    ensure!(all.total == 6 && all.items.len() == 6);
    // Paging: consecutive pages cover the list once, in one order.
    let first = store.list_users("", 4, 0).await?;
    let second = store.list_users("", 4, 4).await?;
    ensure!(first.total == 6 && second.total == 6 && first.items.len() == 4 && second.items.len() == 2);
    ensure!([names(&first), names(&second)].concat() == names(&all), "pages overlap or skip");
    ensure!(store.list_users("", 4, 8).await?.items.is_empty());

    // Wildcards match themselves; case does not matter; email counts.
    ensure!(names(&store.list_users("a_b", 10, 0).await?) == vec!["a_b"]);
    ensure!(names(&store.list_users("a%", 10, 0).await?) == vec!["a%b"]);
    ensure!(names(&store.list_users("DAVE", 10, 0).await?) == vec!["Dave"]);
    ensure!(names(&store.list_users("smith@example", 10, 0).await?) == vec!["erin"]);
    let matched = store.list_users("example.com", 2, 0).await?;
    ensure!(matched.total == 5 && matched.items.len() == 2, "{matched:?}");
    ensure!(store.list_users("nobody", 10, 0).await?.total == 0);
    Ok(())
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

async fn admin_user_changes(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    for (user, id) in [(f.user.id, "s-1"), (f.user.id, "s-2"), (bob.id, "s-bob")] {
        store.create_session(&session_for(user, id)).await?;
    }

    // Deactivating ends sessions and stops tokens; reactivating lets the user back in.
    ensure!(store.set_user_active(f.user.id, false).await?);
    ensure!(store.user_by_id(f.user.id).await?.is_some_and(|u| !u.is_active));
    ensure!(store.session(&TokenHash::of("s-1"), NOW).await?.is_none());
    ensure!(store.session(&TokenHash::of("s-bob"), NOW).await?.is_some(), "other users keep their sessions");
    ensure!(!live_access(&*store, "at-1", NOW).await?);
    ensure!(store.count_live_tokens(NOW).await? == 0);
    ensure!(store.set_user_active(f.user.id, true).await?);
    ensure!(store.user_by_id(f.user.id).await?.is_some_and(|u| u.is_active));
    ensure!(live_access(&*store, "at-1", NOW).await?);
    ensure!(!store.set_user_active(f.user.id + 100, false).await?);

    // A new password ends every session of the user but the one kept; their tokens
    // stay unless asked.
    for id in ["s-1", "s-2"] {
        store.create_session(&session_for(f.user.id, id)).await?;
    }
    ensure!(store.reset_password(f.user.id, "$argon2id$new", Some(&TokenHash::of("s-2")), None).await? == Some(0));
    let alice = store.user_by_id(f.user.id).await?.context("alice missing")?;
    ensure!(alice.password_hash.as_deref() == Some("$argon2id$new"));
    ensure!(store.session(&TokenHash::of("s-1"), NOW).await?.is_none());
    ensure!(store.session(&TokenHash::of("s-2"), NOW).await?.is_some());
    ensure!(live_access(&*store, "at-1", NOW).await?, "tokens kept unless asked");
    ensure!(store.reset_password(f.user.id, "$argon2id$newer", None, None).await? == Some(0));
    ensure!(store.session(&TokenHash::of("s-2"), NOW).await?.is_none());
    ensure!(store.session(&TokenHash::of("s-bob"), NOW).await?.is_some());
    ensure!(store.reset_password(f.user.id + 100, "$argon2id$x", None, None).await?.is_none());

    // Asked to, it also revokes every token of the user, for every application, and
    // what would buy new ones; other users' tokens, and the user's consents, stay.
    let other = store.create_application(&new_app("client-b")).await?;
    let mut second = tokens(&f, "at-2", Some("rt-2"), "fam-2");
    second.application_id = other.id;
    store.insert_token(&second).await?;
    let mut bobs = tokens(&f, "at-bob", Some("rt-bob"), "fam-bob");
    bobs.user_id = Some(bob.id);
    store.insert_token(&bobs).await?;
    store.insert_code(&new_code(&f, "pending", NOW + 200)).await?;
    let device = NewDeviceGrant {
        device_code_hash: TokenHash::of("dc-alice"),
        user_code: "BCDFGHJM".into(),
        application_id: f.app.id,
        scope: "read".into(),
        interval_seconds: 5,
        created_at: NOW,
        expires_at: NOW + 600,
    };
    store.insert_device_grant(&device).await?;
    let device = store.device_grant_by_user_code("BCDFGHJM").await?.context("grant lost")?.id;
    ensure!(store.decide_device_grant(device, f.user.id, true, NOW + 1).await?);
    store.save_consent(f.user.id, other.id, "read", NOW).await?;
    store.create_session(&session_for(f.user.id, "s-3")).await?;
    let revoked = store.reset_password(f.user.id, "$argon2id$newest", None, Some(NOW + 5)).await?;
    ensure!(revoked == Some(4), "at-1, rt-1, at-2, rt-2: {revoked:?}");
    for token in ["at-1", "at-2"] {
        ensure!(!live_access(&*store, token, NOW + 5).await?, "{token} still live");
    }
    for token in ["rt-1", "rt-2"] {
        ensure!(store.refresh_token(&TokenHash::of(token)).await?.is_some_and(|r| r.revoked_at == Some(NOW + 5)));
    }
    ensure!(store.code(&TokenHash::of("pending")).await?.is_none(), "the pending code is gone");
    let collected = store.poll_device_grant(device, NOW + 20, &tokens(&f, "dev-at", None, "")).await?;
    ensure!(collected == DevicePoll::Denied, "an approved device grant buys nothing: {collected:?}");
    ensure!(store.session(&TokenHash::of("s-3"), NOW).await?.is_none());
    ensure!(live_access(&*store, "at-bob", NOW + 5).await?, "Bob's tokens are his own");
    ensure!(store.consent(f.user.id, other.id).await?.is_some(), "consents are choices, not credentials");
    ensure!(store.reset_password(f.user.id, "$argon2id$again", None, Some(NOW + 6)).await? == Some(0));

    // Groups are replaced whole; groups shared with others survive.
    store.add_user_to_group(bob.id, "ops").await?;
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    ensure!(store.set_user_groups(f.user.id, &set(&["staff", "ops"])).await?);
    ensure!(store.user_groups(f.user.id).await? == set(&["ops", "staff"]));
    ensure!(store.set_user_groups(f.user.id, &set(&["dev"])).await?);
    ensure!(store.user_groups(f.user.id).await? == set(&["dev"]));
    ensure!(store.user_groups(bob.id).await? == set(&["ops"]));
    ensure!(store.set_user_groups(f.user.id, &[]).await?);
    ensure!(store.user_groups(f.user.id).await?.is_empty());
    ensure!(!store.set_user_groups(f.user.id + 100, &set(&["dev"])).await?);
    Ok(())
}

async fn admin_application_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
    ensure!(store.count_applications().await? == 0);
    let owner = store.create_user(&new_user("owner")).await?;
    let mut owned = new_app("client-owned");
    owned.name = "Zeta shop".into();
    owned.owner_id = Some(owner.id);
    let owned = store.create_application(&owned).await?;
    let mut wild = new_app("client_100%");
    wild.name = "Alpha".into();
    let wild = store.create_application(&wild).await?;
    let plain = store.create_application(&new_app("client-plain")).await?;
    ensure!(store.count_applications().await? == 3);

    let all = store.list_all_applications("", 10, 0).await?;
    ensure!(all.total == 3);
    let ids: Vec<i64> = all.items.iter().map(|l| l.app.id).collect();
    ensure!(ids == vec![wild.id, plain.id, owned.id], "ordered by name: {ids:?}");
    ensure!(all.items.iter().find(|l| l.app.id == owned.id).and_then(|l| l.owner.as_deref()) == Some("owner"));
    ensure!(all.items.iter().find(|l| l.app.id == plain.id).is_some_and(|l| l.owner.is_none()));
    ensure!(all.items.iter().find(|l| l.app.id == wild.id).map(|l| &l.app) == Some(&wild));

    let page = store.list_all_applications("", 2, 2).await?;
    ensure!(page.total == 3 && page.items.len() == 1 && page.items[0].app.id == owned.id);
    let by = |search: &'static str| {
        let store = store.clone();
        async move {
            let found = store.list_all_applications(search, 10, 0).await?;
            anyhow::Ok(found.items.iter().map(|l| l.app.id).collect::<Vec<_>>())
        }
    };
    ensure!(by("ZETA").await? == vec![owned.id], "by name, any case");
    ensure!(by("-plain").await? == vec![plain.id], "by client id");
    ensure!(by("_1").await? == vec![wild.id], "wildcards match themselves");
    ensure!(by("100%").await? == vec![wild.id]);
    ensure!(by("nothing").await?.is_empty());

    ensure!(store.application_by_id(owned.id).await?.as_ref() == Some(&owned));
    ensure!(store.application_by_id(owned.id + 100).await?.is_none());
    Ok(())
}

async fn admin_token_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    let other = store.create_application(&new_app("client-b")).await?;
    store.insert_token(&tokens(&f, "alice-a", Some("rt-1"), "fam-1")).await?;
    let mut bob_b = tokens(&f, "bob-b", None, "");
    bob_b.user_id = Some(bob.id);
    bob_b.application_id = other.id;
    store.insert_token(&bob_b).await?;
    let mut machine = tokens(&f, "client-only", None, "");
    machine.user_id = None;
    machine.application_id = other.id;
    store.insert_token(&machine).await?;
    let mut expired = tokens(&f, "expired", None, "");
    expired.access_expires_at = NOW;
    store.insert_token(&expired).await?;
    ensure!(store.count_live_tokens(NOW).await? == 3);

    let all = store.list_access_tokens(&TokenFilter::default(), 10, 0).await?;
    ensure!(all.total == 4 && all.items.len() == 4);
    ensure!(all.items.windows(2).all(|w| w[0].record.id > w[1].record.id), "newest first");
    let first = all.items.last().context("no tokens")?;
    ensure!(first.record.client_id == "client-a" && first.application_name == "App client-a");
    ensure!(first.record.username.as_deref() == Some("alice") && first.record.user_id == Some(f.user.id));
    ensure!(first.record.refresh_family.as_deref() == Some("fam-1") && first.record.scope == "read");
    ensure!(first.record.status(NOW) == TokenStatus::Live);
    let machine = all.items.iter().find(|t| t.record.user_id.is_none()).context("client token missing")?;
    ensure!(
        machine.record.username.is_none()
            && machine.record.user_active.is_none()
            && machine.record.status(NOW) == TokenStatus::Live
    );
    ensure!(all.items[0].record.status(NOW) == TokenStatus::Expired);

    let filter = |username: Option<&str>, client_id: Option<&str>| TokenFilter {
        username: username.map(str::to_owned),
        client_id: client_id.map(str::to_owned),
    };
    let count = |f: TokenFilter| {
        let store = store.clone();
        async move { anyhow::Ok(store.list_access_tokens(&f, 10, 0).await?.total) }
    };
    ensure!(count(filter(Some("alice"), None)).await? == 2);
    ensure!(count(filter(Some("bob"), None)).await? == 1);
    ensure!(count(filter(None, Some("client-b"))).await? == 2);
    ensure!(count(filter(Some("alice"), Some("client-b"))).await? == 0);
    ensure!(count(filter(Some("ALICE"), None)).await? == 0, "usernames match exactly");
    ensure!(count(filter(Some("nobody"), None)).await? == 0);
    let paged = store.list_access_tokens(&TokenFilter::default(), 3, 3).await?;
    ensure!(paged.total == 4 && paged.items.len() == 1 && paged.items[0].record.id == first.record.id);

    ensure!(store.access_token_by_id(first.record.id).await?.as_ref() == Some(first));
    ensure!(store.access_token_by_id(first.record.id + 100).await?.is_none());
    store.revoke_access_token(first.record.id, NOW).await?;
    let revoked = store.access_token_by_id(first.record.id).await?.context("revoked token gone")?;
    ensure!(revoked.record.status(NOW) == TokenStatus::Revoked);
    ensure!(store.count_live_tokens(NOW).await? == 2);
    store.set_user_active(bob.id, false).await?;
    ensure!(store.count_live_tokens(NOW).await? == 1, "tokens of inactive users are not live");
    let bobs = store.list_access_tokens(&filter(Some("bob"), None), 10, 0).await?;
    ensure!(bobs.items.iter().all(|t| t.record.status(NOW) == TokenStatus::UserInactive));
    Ok(())
}

// --- Metrics ---

/// Only logged-in, unexpired sessions count; and the pools report numbers that can be
/// true (the store under test is the one the server uses, so this also checks that
/// the cache in front passes both through).
async fn active_sessions_and_pool_stats(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    ensure!(store.count_active_sessions(NOW).await? == 0);
    store.create_session(&session_for(f.user.id, "alice-1")).await?;
    store.create_session(&session_for(f.user.id, "alice-2")).await?;
    store.create_session(&NewSession { expires_at: NOW + 10, ..session_for(bob.id, "bob") }).await?;
    // An anonymous session only carries the login form's CSRF token.
    store.create_session(&NewSession { user_id: None, auth_time: None, ..session_for(0, "anonymous") }).await?;
    ensure!(store.count_active_sessions(NOW).await? == 3, "the anonymous session does not count");
    ensure!(store.count_active_sessions(NOW + 10).await? == 2, "bob's session ended at NOW + 10");
    ensure!(store.count_active_sessions(NOW + 100).await? == 0, "all expired");
    store.delete_session(&TokenHash::of("alice-1")).await?;
    ensure!(store.count_active_sessions(NOW).await? == 2, "logout ends one");

    let pools = store.pool_stats();
    ensure!(!pools.is_empty(), "a SQL store reports its pools");
    for pool in &pools {
        ensure!(pool.max > 0 && pool.open <= pool.max && pool.idle <= pool.open, "{pool:?}");
        ensure!(pool.in_use() == pool.open - pool.idle, "{pool:?}");
    }
    let mut names: Vec<_> = pools.iter().map(|p| p.name).collect();
    names.sort_unstable();
    names.dedup();
    ensure!(names.len() == pools.len(), "pool names are distinct: {names:?}");
    ensure!(names == ["main"] || names == ["reader", "writer"], "{names:?}");
    // The queries above have run: each pool has opened a connection and got it back.
    ensure!(pools.iter().all(|p| p.open >= 1), "{pools:?}");
    Ok(())
}

// --- Audit log ---

async fn audit_events(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    ensure!(store.list_audit_events(&AuditFilter::default(), 10).await?.is_empty());
    let login = NewAuditEvent::new(AuditKind::LoginSucceeded, NOW)
        .user(f.user.id)
        .addr(Some(std::net::Ipv6Addr::LOCALHOST.into()))
        .detail("login page");
    store.record_audit_event(&login).await?;
    let issued = |n: i64| {
        NewAuditEvent::new(AuditKind::TokenIssued, NOW + n)
            .user(f.user.id)
            .client(&f.app.client_id)
            .detail(format!("grant password, number {n}"))
    };
    store.record_audit_events(&[issued(1), issued(2), issued(3)]).await?;
    let created = NewAuditEvent::new(AuditKind::ApplicationCreated, NOW + 4).client("client-b").detail("cli");
    let ghost = NewAuditEvent::new(AuditKind::LoginFailed, NOW + 5).user(f.user.id + 1000);
    store.record_audit_events(&[created.clone(), ghost.clone()]).await?;
    store.record_audit_events(&[]).await?;

    // Newest first, every field as recorded, with the user's username when they exist.
    let all = store.list_audit_events(&AuditFilter::default(), 100).await?;
    let recorded: Vec<&NewAuditEvent> = all.iter().map(|e| &e.event).collect();
    let expected = [&ghost, &created, &issued(3), &issued(2), &issued(1), &login];
    ensure!(recorded.len() == expected.len(), "{all:?}");
    ensure!(recorded.iter().zip(expected).all(|(a, b)| *a == b), "{all:?}");
    ensure!(all.windows(2).all(|w| w[0].id > w[1].id), "ids fall: {all:?}");
    ensure!(all[5].event.client_addr.as_deref() == Some("::1"));
    ensure!(all[5].username.as_deref() == Some("alice") && all[0].username.is_none() && all[1].username.is_none());

    // Each filter alone and together, the limit, and paging by id.
    let list = |filter: AuditFilter, limit| {
        let store = store.clone();
        async move {
            let events = store.list_audit_events(&filter, limit).await?;
            anyhow::Ok(events.into_iter().map(|e| e.event.detail).collect::<Vec<_>>())
        }
    };
    let by_kind = AuditFilter { kind: Some(AuditKind::TokenIssued), ..AuditFilter::default() };
    ensure!(list(by_kind.clone(), 100).await?.len() == 3);
    ensure!(list(by_kind.clone(), 2).await? == ["grant password, number 3", "grant password, number 2"]);
    let after_second = AuditFilter { before: Some(all[3].id), ..by_kind.clone() };
    ensure!(list(after_second, 100).await? == ["grant password, number 1"]);
    let by_user = AuditFilter { user_id: Some(f.user.id), ..AuditFilter::default() };
    ensure!(list(by_user.clone(), 100).await?.len() == 4);
    let by_client = AuditFilter { client_id: Some("client-b".into()), ..AuditFilter::default() };
    ensure!(list(by_client, 100).await? == ["cli"]);
    let login_of_alice = AuditFilter { kind: Some(AuditKind::LoginSucceeded), ..by_user };
    ensure!(list(login_of_alice, 100).await? == ["login page"]);
    let none = AuditFilter { kind: Some(AuditKind::KeyRotated), ..AuditFilter::default() };
    ensure!(list(none, 100).await?.is_empty());

    // `portcullis cleartokens` keeps the history, and so does deleting what it names.
    store.clear_tokens(NOW + 1_000_000).await?;
    store.delete_application(&f.app.client_id).await?;
    ensure!(store.list_audit_events(&AuditFilter::default(), 100).await?.len() == 6);
    Ok(())
}

/// Events and tokens written at once share the group commit, and each lands: none is
/// lost or mixed up when the writer takes both in one round.
async fn audit_events_beside_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = Arc::new(fixture(&*store).await?);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..40 {
        let (store, f) = (store.clone(), f.clone());
        tasks.spawn(async move {
            if n % 2 == 0 {
                store.insert_token(&tokens(&f, &format!("batch-{n}"), None, "")).await
            } else {
                let event = NewAuditEvent::new(AuditKind::TokenIssued, NOW).detail(format!("event {n}"));
                store.record_audit_event(&event).await
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    for n in (0..40).step_by(2) {
        ensure!(live_access(&*store, &format!("batch-{n}"), NOW).await?, "token {n} missing");
    }
    let mut details: Vec<String> =
        store.list_audit_events(&AuditFilter::default(), 100).await?.into_iter().map(|e| e.event.detail).collect();
    details.sort();
    let mut expected: Vec<String> = (1..40).step_by(2).map(|n| format!("event {n}")).collect();
    expected.sort();
    ensure!(details == expected, "{details:?}");
    Ok(())
}
