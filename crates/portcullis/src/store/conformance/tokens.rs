//! Access tokens, refresh rotation and reuse, and sweeping out what has expired.

use super::*;

pub(super) async fn access_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn refresh_rotation_and_reuse(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn refresh_grace_period(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn refresh_without_rotation(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn concurrent_refresh_has_one_winner(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn clear_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
                resource: String::new(),
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

/// RFC 8707: the resources a grant was authorized for and those an access token is
/// bound to are kept as written, through issuance, rotation, codes and device grants.
pub(super) async fn resources_are_kept(store: Arc<dyn Store>) -> anyhow::Result<()> {
    const AB: &str = "https://a.example/api https://b.example/";
    let f = fixture(&*store).await?;
    let mut issued = tokens(&f, "at-1", Some("rt-1"), "fam");
    issued.audience = "https://a.example/api".into();
    if let Some(refresh) = issued.refresh.as_mut() {
        refresh.resource = AB.into();
    }
    store.insert_token(&issued).await?;
    let at = store.access_token(&TokenHash::of("at-1")).await?.context("token missing")?;
    ensure!(at.audience == "https://a.example/api", "audience {:?}", at.audience);
    let rt = store.refresh_token(&TokenHash::of("rt-1")).await?.context("refresh missing")?;
    ensure!(rt.resource == AB, "resource {:?}", rt.resource);
    // A token issued without resources has none.
    store.insert_token(&tokens(&f, "at-0", None, "")).await?;
    ensure!(store.access_token(&TokenHash::of("at-0")).await?.is_some_and(|t| t.audience.is_empty()));

    // Rotation writes the successor as the grant says, in the same family.
    let mut next = tokens(&f, "at-2", Some("rt-2"), "x");
    next.audience = "https://b.example/".into();
    if let Some(refresh) = next.refresh.as_mut() {
        refresh.resource = AB.into();
    }
    ensure!(store.exchange_refresh_token(&exchange(rt.id, NOW + 1, 0, true, next)).await? == RefreshOutcome::Issued);
    let at2 = store.access_token(&TokenHash::of("at-2")).await?.context("successor access token missing")?;
    ensure!(at2.audience == "https://b.example/");
    let rt2 = store.refresh_token(&TokenHash::of("rt-2")).await?.context("successor missing")?;
    ensure!(rt2.resource == AB && rt2.family == "fam");

    let mut code = new_code(&f, "code-r", NOW + 60);
    code.resource = AB.into();
    store.insert_code(&code).await?;
    ensure!(store.code(&TokenHash::of("code-r")).await?.is_some_and(|c| c.resource == AB));

    store
        .insert_device_grant(&NewDeviceGrant {
            device_code_hash: TokenHash::of("dc-r"),
            user_code: "RRRRSSSS".into(),
            application_id: f.app.id,
            scope: "read".into(),
            resource: AB.into(),
            interval_seconds: 5,
            created_at: NOW,
            expires_at: NOW + 600,
        })
        .await?;
    ensure!(store.device_grant_by_code(&TokenHash::of("dc-r")).await?.is_some_and(|g| g.resource == AB));
    ensure!(store.device_grant_by_user_code("RRRRSSSS").await?.is_some_and(|g| g.resource == AB));
    Ok(())
}
