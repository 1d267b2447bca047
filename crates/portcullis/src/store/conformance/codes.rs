//! Authorization codes, consents, and the grants a user can take back.

use super::*;

pub(super) async fn codes_are_single_use(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn consents(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    ensure!(store.consent(f.user.id, f.app.id).await?.is_none());
    store.save_consent(f.user.id, f.app.id, &consent("read"), NOW).await?;
    store.save_consent(f.user.id, f.app.id, &consent("read write"), NOW + 1).await?;
    ensure!(store.consent(f.user.id, f.app.id).await?.map(|c| c.scope).as_deref() == Some("read write"));
    store
        .save_consent(
            f.user.id,
            f.app.id,
            &Consent { scope: "read".into(), resource: "https://a.example/".into() },
            NOW + 2,
        )
        .await?;
    ensure!(store.consent(f.user.id, f.app.id).await?.is_some_and(|c| c.resource == "https://a.example/"));
    Ok(())
}

pub(super) async fn authorized_applications_and_revoking(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?; // alice and "App client-a"
    let bob = store.create_user(&new_user("bob")).await?;
    let b = new_app(&*store, "client-b").await?;
    let c = new_app(&*store, "client-c").await?;
    ensure!(store.authorized_applications(f.user.id, NOW).await?.is_empty());

    // Alice: tokens for A (an access token with a refresh token, a later one with
    // another scope), a consent for B, and only dead tokens for C.
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam-1")).await?;
    let mut later = tokens(&f, "at-2", None, "");
    later.scope = "groups".into();
    later.created_at = NOW + 50;
    store.insert_token(&later).await?;
    store.save_consent(f.user.id, b.id, &consent("read"), NOW + 5).await?;
    store.save_consent(f.user.id, b.id, &consent("read write"), NOW + 7).await?;
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
