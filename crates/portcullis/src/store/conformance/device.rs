//! The device authorization grant.

use super::*;

/// RFC 8628: a device grant answers once, to one of any number of concurrent polls, with
/// tokens for the user who approved it; the interval is enforced per grant.
pub(super) async fn device_grant_polls(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let grant = NewDeviceGrant {
        resource: String::new(),
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
