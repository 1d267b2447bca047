//! The store's front (`store::front`): the validation cache must never let a revoked,
//! deactivated or deleted thing through on the process that changed it, must notice a
//! change made by another process within `MAX_AGE`, and group commit must keep every
//! token whose insert returned Ok.

use std::sync::Arc;
use std::time::Duration;

use portcullis::crypto::{Secret, TokenHash};
use portcullis::proto::{ClientType, GrantType};
use portcullis::store::front::MAX_AGE;
use portcullis::store::{self, ApplicationSettings, NewTokens, NewUser, ProfileUpdate, Store, StoreError};

use crate::helpers::{fresh_database, Backend};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        local_changes_take_effect_at_once,
        other_processes_changes_are_seen_within_max_age,
        group_commit_keeps_every_token,
        a_failing_token_in_a_batch_fails_alone,
    ]
}

const NOW: i64 = 1_800_000_000;

struct World {
    store: Arc<dyn Store>,
    app_id: i64,
    client_id: String,
    user_id: i64,
}

async fn open(url: &str) -> Arc<dyn Store> {
    let store = store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn world(url: &str) -> World {
    let store = open(url).await;
    let user = store
        .create_user(&NewUser {
            username: "carol".into(),
            email: "carol@example.com".into(),
            first_name: "Carol".into(),
            last_name: String::new(),
            password_hash: None,
            is_staff: false,
            is_superuser: false,
            date_joined: NOW,
        })
        .await
        .unwrap();
    let settings = ApplicationSettings {
        name: "Front".into(),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::Password],
        ..ApplicationSettings::default()
    };
    let app = store
        .create_application("front-client", Some(&TokenHash::of("front-secret")), Some(user.id), &settings, NOW)
        .await
        .unwrap();
    World { store, app_id: app.id, client_id: app.client_id, user_id: user.id }
}

fn new_token(w: &World, user: bool) -> (Secret, NewTokens) {
    let secret = Secret::generate();
    let tokens = NewTokens {
        audience: String::new(),
        application_id: w.app_id,
        user_id: user.then_some(w.user_id),
        scope: "read".into(),
        created_at: NOW,
        access_hash: secret.hash(),
        access_expires_at: NOW + 3600,
        code_id: None,
        refresh: None,
    };
    (secret, tokens)
}

async fn live(store: &dyn Store, secret: &Secret) -> bool {
    store.access_token(&secret.hash()).await.unwrap().is_some_and(|t| t.is_valid(NOW))
}

/// Each change is made after the record was read (and so cached); the next read
/// must show the change, with no wait.
async fn local_changes_take_effect_at_once(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let w = world(&url).await;
    let s = w.store.as_ref();

    // Revocation.
    let (a, tokens) = new_token(&w, true);
    s.insert_token(&tokens).await.unwrap();
    assert!(live(s, &a).await && live(s, &a).await);
    let id = s.access_token(&a.hash()).await.unwrap().unwrap().id;
    s.revoke_access_token(id, NOW).await.unwrap();
    assert!(!live(s, &a).await, "a revoked token was still accepted from the cache");

    // Deactivating the user refuses their tokens; reactivating restores them.
    let (b, tokens) = new_token(&w, true);
    s.insert_token(&tokens).await.unwrap();
    assert!(live(s, &b).await);
    assert!(s.set_user_active(w.user_id, false).await.unwrap());
    assert!(!live(s, &b).await, "a deactivated user's token was still accepted from the cache");
    assert!(s.set_user_active(w.user_id, true).await.unwrap());
    assert!(live(s, &b).await);

    // Profile and groups, which /api/me/ reads.
    assert_eq!(s.user_by_id(w.user_id).await.unwrap().unwrap().first_name, "Carol");
    let update = ProfileUpdate { first_name: Some("Caroline".into()), last_name: None, email: None };
    s.update_profile(w.user_id, &update).await.unwrap();
    assert_eq!(s.user_by_id(w.user_id).await.unwrap().unwrap().first_name, "Caroline");
    assert!(s.user_groups(w.user_id).await.unwrap().is_empty());
    s.set_user_groups(w.user_id, &["staff".to_owned()]).await.unwrap();
    assert_eq!(s.user_groups(w.user_id).await.unwrap(), vec!["staff".to_owned()]);

    // A new client secret replaces the old one for client authentication.
    let before = s.application_by_client_id(&w.client_id).await.unwrap().unwrap();
    assert!(before.client_secret_hash.is_some_and(|h| h.ct_eq(&TokenHash::of("front-secret"))));
    let new_secret = TokenHash::of("another-secret");
    assert!(s.replace_client_secret(w.user_id, w.app_id, &new_secret, NOW).await.unwrap());
    let after = s.application_by_client_id(&w.client_id).await.unwrap().unwrap();
    assert!(after.client_secret_hash.is_some_and(|h| h.ct_eq(&new_secret)), "the old secret came from the cache");

    // Taking back a user's grant revokes their tokens.
    let (c, tokens) = new_token(&w, true);
    s.insert_token(&tokens).await.unwrap();
    assert!(live(s, &c).await);
    s.revoke_user_grants(w.user_id, w.app_id, NOW).await.unwrap();
    assert!(!live(s, &c).await);

    // Deleting the application takes it and its tokens away.
    let (d, tokens) = new_token(&w, false);
    s.insert_token(&tokens).await.unwrap();
    assert!(live(s, &d).await);
    assert!(s.delete_application(&w.client_id).await.unwrap());
    assert!(s.application_by_client_id(&w.client_id).await.unwrap().is_none());
    assert!(s.access_token(&d.hash()).await.unwrap().is_none(), "a deleted application's token came from the cache");
}

/// Two stores on one database stand for two processes (a second instance, or a
/// `portcullis` command beside the server): the change one makes reaches the other's
/// reads once its cached copy is `MAX_AGE` old, and not never.
async fn other_processes_changes_are_seen_within_max_age(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let w = world(&url).await;
    let other = open(&url).await;
    let (token, tokens) = new_token(&w, true);
    w.store.insert_token(&tokens).await.unwrap();
    assert!(live(w.store.as_ref(), &token).await);
    let id = other.access_token(&token.hash()).await.unwrap().unwrap().id;
    other.revoke_access_token(id, NOW).await.unwrap();
    other
        .update_profile(w.user_id, &ProfileUpdate { first_name: Some("Changed".into()), ..Default::default() })
        .await
        .unwrap();
    tokio::time::sleep(MAX_AGE + Duration::from_millis(100)).await;
    assert!(!live(w.store.as_ref(), &token).await, "another process's revocation was never seen");
    assert_eq!(w.store.user_by_id(w.user_id).await.unwrap().unwrap().first_name, "Changed");
}

/// Many concurrent inserts go through group commit; each one that returned Ok is
/// stored, and each is found by its own hash.
async fn group_commit_keeps_every_token(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let w = Arc::new(world(&url).await);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let (secret, tokens) = new_token(&w, i % 2 == 0);
            w.store.insert_token(&tokens).await.map(|()| secret)
        }));
    }
    let mut secrets = Vec::new();
    for task in tasks {
        secrets.push(task.await.unwrap().unwrap());
    }
    for secret in &secrets {
        assert!(live(w.store.as_ref(), secret).await);
    }
    // And from a process with an empty cache, so the rows themselves are checked.
    let other = open(&url).await;
    for secret in &secrets {
        assert!(live(other.as_ref(), secret).await);
    }
}

/// A batch is one transaction; when one of its tokens cannot be stored, the others
/// must still be, and only the bad one's caller gets the error.
async fn a_failing_token_in_a_batch_fails_alone(backend: Backend) {
    let (url, _db) = fresh_database(backend).await;
    let w = Arc::new(world(&url).await);
    let (dup, dup_tokens) = new_token(&w, true);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let w = w.clone();
        let dup_tokens = dup_tokens.clone();
        tasks.push(tokio::spawn(async move {
            // Two of them carry the same hash: the unique index refuses the second.
            let (secret, tokens) = if i == 10 || i == 11 {
                (None, dup_tokens)
            } else {
                let (s, t) = new_token(&w, true);
                (Some(s), t)
            };
            (secret, w.store.insert_token(&tokens).await)
        }));
    }
    let (mut conflicts, mut stored) = (0, Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            (secret, Ok(())) => stored.push(secret),
            (None, Err(StoreError::Conflict(_))) => conflicts += 1,
            (secret, Err(e)) => panic!("unexpected failure (duplicate: {}): {e}", secret.is_none()),
        }
    }
    assert_eq!(conflicts, 1, "exactly one of the two identical tokens is refused");
    assert_eq!(stored.len(), 63);
    let other = open(&url).await;
    assert!(live(other.as_ref(), &dup).await);
    for secret in stored.into_iter().flatten() {
        assert!(live(other.as_ref(), &secret).await, "a token whose insert returned Ok is missing");
    }
}
