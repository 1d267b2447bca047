//! Browser sessions and login throttling.

use super::*;

pub(super) async fn sessions_and_login_failures(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
