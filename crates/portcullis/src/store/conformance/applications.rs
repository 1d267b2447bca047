//! Applications: registering, owning, changing and deleting them.

use super::*;

pub(super) async fn applications(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let public = ApplicationSettings {
        client_type: ClientType::Public,
        allowed_scopes: None,
        grant_types: GrantType::ALL.to_vec(),
        ..app_settings("client-b")
    };
    let a = new_app(&*store, "client-a").await?;
    let b = store.create_application("client-b", None, None, &public, NOW).await?;
    ensure!(a.client_secret_hash.is_some_and(|h| h.ct_eq(&TokenHash::of("s3cret"))));
    ensure!(a.settings.grant_types == vec![GrantType::Password, GrantType::ClientCredentials]);
    ensure!(a.settings.redirect_uris == vec!["https://a.example/cb", "http://127.0.0.1:9/cb"]);
    ensure!(a.settings.allowed_scopes.as_ref().map(ToString::to_string).as_deref() == Some("read write"));
    ensure!(
        b.settings.client_type == ClientType::Public
            && b.client_secret_hash.is_none()
            && b.settings.allowed_scopes.is_none()
    );
    ensure!(b.settings.grant_types == GrantType::ALL.to_vec());
    ensure!(a.settings.resource_server_uris.is_empty(), "none unless given");
    ensure!(store.application_by_client_id("client-a").await?.as_ref() == Some(&a));
    ensure!(store.application_by_client_id("client-x").await?.is_none());
    ensure!(store.list_applications().await?.iter().map(|x| x.id).collect::<Vec<_>>() == vec![a.id, b.id]);
    match new_app(&*store, "client-a").await {
        Err(StoreError::Conflict(_)) => {}
        other => bail!("duplicate client id gave {other:?}"),
    }
    ensure!(store.delete_application("client-b").await?);
    ensure!(!store.delete_application("client-b").await?);
    ensure!(store.list_applications().await?.len() == 1);
    Ok(())
}

pub(super) async fn delete_application_cascades(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let f = fixture(&*store).await?;
    let secret = Secret::generate();
    store.create_application("client-z", Some(&secret.hash()), None, &app_settings("client-z"), NOW).await?;
    store.insert_token(&tokens(&f, "at-1", Some("rt-1"), "fam")).await?;
    ensure!(store.delete_application("client-a").await?);
    ensure!(store.access_token(&TokenHash::of("at-1")).await?.is_none());
    ensure!(store.refresh_token(&TokenHash::of("rt-1")).await?.is_none());
    ensure!(store.application_by_client_id("client-z").await?.is_some());
    ensure!(store.user_by_id(f.user.id).await?.is_some(), "deleting an app keeps its users");
    Ok(())
}

pub(super) async fn owned_applications(store: Arc<dyn Store>) -> anyhow::Result<()> {
    let alice = store.create_user(&new_user("alice")).await?;
    let bob = store.create_user(&new_user("bob")).await?;
    let first = TokenHash::of("first");
    let a1 = store
        .create_application("a1", Some(&first), Some(alice.id), &fields("One", ClientType::Confidential), NOW)
        .await?;
    let a2 = store.create_application("a2", None, Some(alice.id), &fields("Two", ClientType::Public), NOW).await?;
    let b1 = store.create_application("b1", None, Some(bob.id), &fields("Bob's", ClientType::Public), NOW).await?;
    ensure!(a1.owner_id == Some(alice.id) && a1.client_id == "a1" && a1.settings.name == "One");
    ensure!(a1.settings.allowed_origins == vec!["https://a.example", "http://127.0.0.1:8080"]);
    ensure!(a1.settings.post_logout_redirect_uris == vec!["https://a.example/bye"]);
    ensure!(
        a1.settings.grant_types == vec![GrantType::AuthorizationCode, GrantType::Password]
            && a1.settings.algorithm.as_str() == "ES256"
    );
    ensure!(a1.settings.access_token_format == AccessTokenFormat::Jwt, "the token format round-trips");
    ensure!(a1.settings.resource_server_uris == vec!["https://api.example/orders", "urn:example:billing"]);
    ensure!(a1.settings.allowed_scopes.as_ref().map(ToString::to_string).as_deref() == Some("read"));
    ensure!(a1.client_secret_hash == Some(first) && a2.client_secret_hash.is_none());
    ensure!(a1.created_at == NOW && a1.updated_at == NOW);
    ensure!(store.application_by_client_id("a1").await?.as_ref() == Some(&a1));
    match store.create_application("a1", None, None, &fields("Again", ClientType::Public), NOW).await {
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
    changed.algorithm = SigningAlgorithm::EdDsa;
    changed.access_token_format = AccessTokenFormat::Opaque;
    changed.resource_server_uris = vec!["https://api.example/invoices".into()];
    ensure!(store.update_owned_application(bob.id, a1.id, &changed, None, NOW + 1).await?.is_none());
    ensure!(store.owned_application(alice.id, a1.id).await?.as_ref() == Some(&a1), "a refused edit changes nothing");
    let edited = store
        .update_owned_application(alice.id, a1.id, &changed, None, NOW + 10)
        .await?
        .context("edit lost the app")?;
    ensure!(
        edited.settings.name == "One, renamed" && edited.settings.grant_types == vec![GrantType::ClientCredentials]
    );
    ensure!(
        edited.settings.redirect_uris.is_empty()
            && edited.settings.allowed_origins.is_empty()
            && edited.settings.allowed_scopes.is_none()
    );
    ensure!(edited.settings.post_logout_redirect_uris == vec!["https://a.example/bye2"]);
    ensure!(
        edited.settings.skip_authorization && edited.settings.algorithm.as_str() == "EdDSA" && edited.client_id == "a1"
    );
    ensure!(edited.settings.access_token_format == AccessTokenFormat::Opaque);
    ensure!(edited.settings.resource_server_uris == vec!["https://api.example/invoices"]);
    ensure!(edited.client_secret_hash == Some(first), "the secret is kept");
    ensure!(edited.created_at == NOW && edited.updated_at == NOW + 10 && edited.owner_id == Some(alice.id));
    let second = TokenHash::of("second");
    changed.client_type = ClientType::Public;
    let public = store.update_owned_application(alice.id, a1.id, &changed, Some(&second), NOW + 11).await?;
    ensure!(public.is_some_and(|a| a.settings.client_type == ClientType::Public && a.client_secret_hash.is_none()));
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
    ensure!(
        by_staff.settings.name == "Bob's, by staff"
            && by_staff.settings.skip_authorization
            && by_staff.owner_id == Some(bob.id)
    );
    ensure!(
        by_staff.settings.grant_types == staff_edit.grant_types
            && by_staff.settings.allowed_scopes == staff_edit.allowed_scopes
    );
    ensure!(
        by_staff.settings.redirect_uris == staff_edit.redirect_uris
            && by_staff.settings.allowed_origins == staff_edit.allowed_origins
    );
    ensure!(by_staff.settings.post_logout_redirect_uris == staff_edit.post_logout_redirect_uris);
    ensure!(
        by_staff.settings.resource_server_uris == staff_edit.resource_server_uris
            && staff_edit.resource_server_uris.len() == 2
    );
    ensure!(
        by_staff.settings.algorithm.as_str() == "ES256"
            && by_staff.settings.access_token_format == AccessTokenFormat::Jwt
    );
    ensure!(by_staff.settings.client_type == ClientType::Public && by_staff.client_secret_hash.is_none(), "type kept");
    ensure!(by_staff.updated_at == NOW + 30 && by_staff.client_id == "b1");
    ensure!(store.application_by_id(b1.id).await?.as_ref() == Some(&by_staff));
    let ownerless = store.create_application("z1", None, None, &fields("None's", ClientType::Public), NOW).await?;
    ensure!(store
        .update_application(ownerless.id, &staff_edit, NOW + 31)
        .await?
        .is_some_and(|a| a.settings.skip_authorization));
    ensure!(store.update_application(ownerless.id + 1000, &staff_edit, NOW).await?.is_none());

    // Deleting: only by the owner, and it takes the tokens along.
    store
        .insert_token(&NewTokens {
            audience: String::new(),
            application_id: a1.id,
            user_id: Some(bob.id),
            scope: "read".into(),
            created_at: NOW,
            access_hash: TokenHash::of("at-a1"),
            access_expires_at: NOW + 3600,
            code_id: None,
            refresh: Some(NewRefresh {
                resource: String::new(),
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
