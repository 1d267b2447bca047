//! The audit log.

use super::*;

pub(super) async fn audit_events(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
pub(super) async fn audit_events_beside_tokens(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
