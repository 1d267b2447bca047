//! Users, and what staff change about them.

use super::*;

pub(super) async fn users(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
    let ada = LinkedUser {
        id: alice.id + 1000,
        username: "ada",
        email: "ada@host.example",
        first_name: "",
        last_name: "",
        is_staff: false,
        is_superuser: false,
    };
    store.link_user(&ada).await?;
    let row = store.user_by_id(ada.id).await?.context("the mirror row is missing")?;
    ensure!(row.username == "ada" && row.email == "ada@host.example" && row.is_active && row.password_hash.is_none());
    let ada = LinkedUser { username: "ada.l", is_staff: true, ..ada };
    store.link_user(&ada).await?;
    let row = store.user_by_id(ada.id).await?.context("the mirror row is missing")?;
    ensure!(row.username == "ada.l" && row.is_staff, "refreshed: {row:?}");
    ensure!(store.user_by_username("ada").await?.is_none(), "one row per account");
    let clash = LinkedUser { id: ada.id + 1, username: "alice", ..ada };
    ensure!(matches!(store.link_user(&clash).await, Err(StoreError::Conflict(_))), "usernames stay unique");
    ensure!(store.user_by_id(alice.id).await?.is_some_and(|u| u.password_hash.is_some()), "alice is untouched");
    Ok(())
}

pub(super) async fn admin_user_changes(store: Arc<dyn Store>) -> anyhow::Result<()> {
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
    let other = new_app(&*store, "client-b").await?;
    let mut second = tokens(&f, "at-2", Some("rt-2"), "fam-2");
    second.application_id = other.id;
    store.insert_token(&second).await?;
    let mut bobs = tokens(&f, "at-bob", Some("rt-bob"), "fam-bob");
    bobs.user_id = Some(bob.id);
    store.insert_token(&bobs).await?;
    store.insert_code(&new_code(&f, "pending", NOW + 200)).await?;
    let device = NewDeviceGrant {
        resource: String::new(),
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
    store.save_consent(f.user.id, other.id, &consent("read"), NOW).await?;
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
