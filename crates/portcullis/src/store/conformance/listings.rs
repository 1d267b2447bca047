//! What the staff pages and the metrics list and count.

use super::*;

pub(super) async fn admin_user_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
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

pub(super) async fn admin_application_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
    ensure!(store.count_applications().await? == 0);
    let owner = store.create_user(&new_user("owner")).await?;
    let secret = TokenHash::of("s3cret");
    let owned = ApplicationSettings { name: "Zeta shop".into(), ..app_settings("client-owned") };
    let owned = store.create_application("client-owned", Some(&secret), Some(owner.id), &owned, NOW).await?;
    let wild = ApplicationSettings { name: "Alpha".into(), ..app_settings("client_100%") };
    let wild = store.create_application("client_100%", Some(&secret), None, &wild, NOW).await?;
    let plain = new_app(&*store, "client-plain").await?;
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

pub(super) async fn admin_token_listing(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    let other = new_app(&*store, "client-b").await?;
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

/// Only logged-in, unexpired sessions count; and the pools report numbers that can be
/// true (the store under test is the one the server uses, so this also checks that
/// the cache in front passes both through).
pub(super) async fn active_sessions_and_pool_stats(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
