//! OpenID Connect: discovery and RFC 8414 metadata, the JWKS, ID tokens from the code
//! flow, UserInfo, key rotation and keys sealed at rest.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{DecodingKey, Validation};
use portcullis::oidc::keys::{KeyEncryptionKey, KeyError, KeyRing, PUBLISH_AHEAD, RELOAD_AFTER};
use portcullis::proto::SigningAlgorithm;
use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use crate::authorize::{
    answer_consent, authorize_url, logged_in, param, pkce, query_of, register_signing_with, REDIRECT,
};
use crate::helpers::{Backend, Client, TestApp};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        discovery_describes_the_endpoints_the_server_answers,
        without_openid_connect_only_oauth_metadata_is_served,
        jwks_publishes_one_public_key_per_algorithm,
        code_flow_gives_a_verifiable_id_token_for_each_algorithm,
        no_id_token_without_the_openid_scope,
        userinfo_answers_for_tokens_with_openid,
        rotation_keeps_old_keys_published_until_their_tokens_expire,
        sealed_keys_need_their_key,
        prompt_none_never_shows_a_page,
        prompt_login_and_max_age_make_the_user_log_in_again,
        id_token_hint_names_the_user,
        hybrid_and_implicit_responses_carry_bound_id_tokens,
        id_token_responses_need_openid_a_nonce_and_the_grant,
        logout_with_a_hint_ends_the_session_and_that_clients_tokens,
        logout_without_a_hint_asks_first_and_never_redirects_anywhere_unregistered,
        logout_can_leave_tokens_alone,
        logout_asks_a_visitor_before_sending_them_anywhere_without_a_hint,
        only_id_tokens_are_hints,
    ]
}

pub(crate) const ISSUER: &str = "http://127.0.0.1:8000/o";

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value, Option<String>) {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, cache)
}

async fn jwks(app: &TestApp) -> JwkSet {
    let (status, body, _) = get_json(app, "/o/.well-known/jwks.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

/// The path of one of the metadata's endpoint URLs, which must be on the issuer's origin.
fn path_of(metadata: &Value, key: &str) -> String {
    let url = metadata[key].as_str().unwrap_or_else(|| panic!("{key} missing from {metadata}"));
    url.strip_prefix("http://127.0.0.1:8000")
        .unwrap_or_else(|| panic!("{key} = {url} is not on the issuer's origin"))
        .into()
}

async fn discovery_describes_the_endpoints_the_server_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Discovery §4: the issuer's path followed by /.well-known/openid-configuration;
    // some clients look at the root too.
    let (status, doc, cache) = get_json(&app, "/o/.well-known/openid-configuration").await;
    assert_eq!(status, StatusCode::OK);
    assert!(cache.unwrap().contains("max-age="));
    let (_, root, _) = get_json(&app, "/.well-known/openid-configuration").await;
    assert_eq!(root, doc);
    // Discovery §4.3: "The issuer value returned MUST be identical to the Issuer URL
    // that was used as the prefix to /.well-known/openid-configuration".
    assert_eq!(doc["issuer"], ISSUER);
    // Discovery §3: the members a provider must give.
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(!doc[key].is_null(), "{key} is REQUIRED");
    }
    assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
    assert_eq!(doc["subject_types_supported"], serde_json::json!(["public"]));
    assert_eq!(doc["request_uri_parameter_supported"], false, "its default is true, and request_uri is not served");
    let scopes: Vec<&str> = doc["scopes_supported"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for scope in ["openid", "profile", "email", "read"] {
        assert!(scopes.contains(&scope), "{scope} in {scopes:?}");
    }
    assert!(doc["code_challenge_methods_supported"].as_array().unwrap().contains(&"S256".into()));

    // Every endpoint it names is answered here (never 404 or 405).
    let jwks = app.http.get(app.url(&path_of(&doc, "jwks_uri"))).send().await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    let logout = app.http.get(app.url(&path_of(&doc, "end_session_endpoint"))).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::OK, "RP-Initiated Logout §2.1: end_session_endpoint");
    let userinfo = app.http.get(app.url(&path_of(&doc, "userinfo_endpoint"))).send().await.unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED, "no token");
    for key in ["token_endpoint", "revocation_endpoint", "introspection_endpoint"] {
        let answer = app.http.post(app.url(&path_of(&doc, key))).form(&[("x", "y")]).send().await.unwrap();
        assert!(matches!(answer.status().as_u16(), 400 | 401), "{key}: {}", answer.status());
    }
    let authorize = app.http.get(app.url(&path_of(&doc, "authorization_endpoint"))).send().await.unwrap();
    assert_eq!(authorize.status(), StatusCode::BAD_REQUEST, "no client_id: an error page");

    // RFC 8414 §3: "/.well-known/oauth-authorization-server" inserted between the host
    // and the issuer's path; §3.3: "The "issuer" value returned MUST be identical to the
    // authorization server's issuer identifier value into which the well-known URI
    // string was inserted".
    for path in ["/.well-known/oauth-authorization-server/o", "/.well-known/oauth-authorization-server"] {
        let (status, metadata, _) = get_json(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(metadata["issuer"], ISSUER);
        assert_eq!(metadata["token_endpoint"], doc["token_endpoint"]);
    }
}

async fn without_openid_connect_only_oauth_metadata_is_served(backend: Backend) {
    // As `Config::load` makes it with `enabled = false`: without OpenID Connect's scopes.
    let app = TestApp::spawn_with(backend, |c| {
        c.oidc.enabled = false;
        for (name, _) in portcullis::config::OIDC_SCOPES {
            c.oauth2.scopes.remove(name);
        }
    })
    .await;
    for path in ["/o/.well-known/openid-configuration", "/o/.well-known/jwks.json", "/o/userinfo/", "/o/logout/"] {
        let status = app.http.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, metadata, _) = get_json(&app, "/.well-known/oauth-authorization-server/o").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metadata["token_endpoint"].is_string());
    assert!(metadata["jwks_uri"].is_null() && metadata["userinfo_endpoint"].is_null(), "{metadata}");
    assert!(!metadata["scopes_supported"].as_array().unwrap().contains(&"openid".into()));
    assert!(app.store.signing_keys().await.unwrap().is_empty(), "no keys are made while OpenID Connect is off");
}

async fn jwks_publishes_one_public_key_per_algorithm(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/o/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("max-age="));
    let raw: Value = response.json().await.unwrap();
    let keys = raw["keys"].as_array().unwrap();
    let mut seen: Vec<(String, String)> =
        keys.iter().map(|k| (k["alg"].as_str().unwrap().into(), k["kty"].as_str().unwrap().into())).collect();
    seen.sort();
    assert_eq!(seen, [("ES256".into(), "EC".into()), ("EdDSA".into(), "OKP".into()), ("RS256".into(), "RSA".into())]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
        // RFC 7517 §9.2 and RFC 7518 §6: the private members of each key type.
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key[private].is_null(), "{private} published in {key}");
        }
    }
    // The stored keys are the published ones, one active per algorithm.
    let stored = app.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|k| k.retired_at.is_none() && !k.encrypted));
}

/// Runs the code flow for `client` with `scope` and a nonce; returns the token answer.
async fn code_flow(
    app: &TestApp,
    browser: &crate::helpers::Browser,
    client: &Client,
    scope: &str,
    nonce: &str,
) -> Value {
    let p = pkce();
    let request = [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "s"),
        ("nonce", nonce),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let answer = answer_consent(browser, &authorize_url(client, &request), "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    let code = param(&query_of(&answer.location()), "code").unwrap();
    exchange(app, client, &code, &p.verifier).await
}

/// Exchanges a code at the token endpoint (with PKCE); asserts a token answer.
async fn exchange(app: &TestApp, client: &Client, code: &str, verifier: &str) -> Value {
    let form =
        [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT), ("code_verifier", verifier)];
    app.token(client, &form).await.assert_token()
}

/// Checks the ID token's signature against the published key its header names, and
/// returns its header and claims.
async fn verify_id_token(app: &TestApp, id_token: &str, client_id: &str) -> (jsonwebtoken::Header, Value) {
    verify_signed(app, id_token, client_id).await
}

/// Checks a JWT's signature against the published key its header names (Core §10.1: a
/// `kid` when the JWKS has several keys), its issuer and its audience, as a relying
/// party or a resource server would, and returns its header and claims.
pub(crate) async fn verify_signed(app: &TestApp, jwt: &str, audience: &str) -> (jsonwebtoken::Header, Value) {
    let header = jsonwebtoken::decode_header(jwt).unwrap_or_else(|e| panic!("not a JWT ({e}): {jwt}"));
    let kid = header.kid.clone().expect("a kid naming the published key");
    let set = jwks(app).await;
    let jwk: &Jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} is not published"));
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[ISSUER]);
    // The test clock is not the wall clock: callers check exp against it.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
    let data = jsonwebtoken::decode::<Value>(jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap_or_else(|e| panic!("the token does not verify: {e}"));
    (header, data.claims)
}

async fn code_flow_gives_a_verifiable_id_token_for_each_algorithm(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app).await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();
    let grants = [GrantType::AuthorizationCode];
    for alg in SigningAlgorithm::ALL {
        let client =
            register_signing_with(&app, ClientType::Confidential, &[REDIRECT], &grants, false, alg.as_str()).await;
        let tokens = code_flow(&app, &browser, &client, "openid profile email read", "n-0S6_WzA2Mj").await;
        let id_token = tokens["id_token"].as_str().expect("Core §3.1.3.3: an id_token in the token response");
        let (header, claims) = verify_id_token(&app, id_token, &client.client_id).await;
        assert_eq!(header.alg, alg_of(alg), "signed as the application chose");
        let now = app.clock_now();
        // Core §2 and §3.1.3.6/7.
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["sub"], alice.id.to_string(), "the same sub as introspection gives");
        assert_eq!(claims["aud"], client.client_id.as_str());
        assert_eq!(claims["azp"], client.client_id.as_str());
        assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "Core §3.1.3.7: the nonce of the authentication request");
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["exp"], now + 36000);
        let auth_time = claims["auth_time"].as_i64().unwrap();
        assert!(auth_time <= now && auth_time > now - 60, "auth_time {auth_time} is the login, now {now}");
        // Core §3.1.3.6: at_hash is the left half of the alg's hash of the access token.
        let access = tokens["access_token"].as_str().unwrap();
        let digest = match alg {
            SigningAlgorithm::EdDsa => Sha512::digest(access.as_bytes()).to_vec(),
            _ => Sha256::digest(access.as_bytes()).to_vec(),
        };
        assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]));
        assert!(claims["c_hash"].is_null(), "c_hash only in hybrid answers");
        // Core §5.4: profile and email claims for those scopes.
        assert_eq!(claims["preferred_username"], "alice");
        assert_eq!(claims["name"], "First Last");
        assert_eq!(claims["given_name"], "First");
        assert_eq!(claims["family_name"], "Last");
        assert_eq!(claims["email"], "alice@example.com");
        assert_eq!(claims["email_verified"], false);
    }
}

pub(crate) fn alg_of(alg: SigningAlgorithm) -> jsonwebtoken::Algorithm {
    match alg {
        SigningAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        SigningAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        SigningAlgorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
    }
}

async fn no_id_token_without_the_openid_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app).await;
    let client =
        register_signing_with(&app, ClientType::Public, &[REDIRECT], &[GrantType::AuthorizationCode], false, "RS256")
            .await;
    let tokens = code_flow(&app, &browser, &client, "read profile", "n").await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    // Only openid's claims and nothing else limit what a profile scope alone gives.
    let tokens = code_flow(&app, &browser, &client, "openid", "n2").await;
    let (_, claims) = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client.client_id).await;
    assert!(claims["preferred_username"].is_null() && claims["email"].is_null(), "{claims}");
}

async fn userinfo_answers_for_tokens_with_openid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let client = app.confidential().await;
    let token = app.password_token(&client, "alice", Some("openid profile")).await;
    let token = token["access_token"].as_str().unwrap();
    // Core §5.3.1: GET or POST, the token as a bearer token.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response =
            app.http.request(method.clone(), app.url("/o/userinfo/")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let claims: Value = response.json().await.unwrap();
        let alice = app.store.user_by_username("alice").await.unwrap().unwrap();
        assert_eq!(claims["sub"], alice.id.to_string());
        assert_eq!(claims["preferred_username"], "alice");
        assert!(claims["email"].is_null(), "no email scope: {claims}");
    }
    // Without a token: RFC 6750 §3 challenge.
    let bare = app.http.get(app.url("/o/userinfo")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert!(bare.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    // A token without openid: insufficient_scope (RFC 6750 §3.1).
    let read = app.password_token(&client, "alice", Some("read")).await;
    let answer = app.get_with_token("/o/userinfo/", read["access_token"].as_str().unwrap()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.header("www-authenticate").unwrap().contains("insufficient_scope"));
    // A client-credentials token acts for nobody.
    let app_token = app.token(&client, &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
    let app_token = app_token.assert_token();
    let answer = app.get_with_token("/o/userinfo/", app_token["access_token"].as_str().unwrap()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.header("www-authenticate").unwrap().contains("invalid_token"));
    // A revoked token stops at once.
    let revoked = app.post_form("/o/revoke_token/", Some(&client), &[("token", token)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(app.status_with_token("/o/userinfo/", token).await, StatusCode::UNAUTHORIZED);
}

async fn rotation_keeps_old_keys_published_until_their_tokens_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app).await;
    let client =
        register_signing_with(&app, ClientType::Public, &[REDIRECT], &[GrantType::AuthorizationCode], false, "RS256")
            .await;
    let before = code_flow(&app, &browser, &client, "openid", "n1").await;
    let old_token = before["id_token"].as_str().unwrap().to_owned();
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid.unwrap();

    // What `portcullis keys rotate` does, from another process's key ring.
    let lifetime = 36000;
    let ring = KeyRing::new(app.store.clone(), None, lifetime);
    let new_kids = ring.rotate(app.clock_now()).await.unwrap();
    assert_eq!(new_kids.len(), 3);
    tokio::time::sleep(RELOAD_AFTER + Duration::from_millis(100)).await;

    let published = jwks(&app).await;
    assert_eq!(published.keys.len(), 6, "three new keys and the three retired ones");
    // The new keys are published before they sign: verifiers that cached the set just
    // before the rotation may look again by the time a token names a new key.
    app.clock.advance(PUBLISH_AHEAD - 1);
    let during = code_flow(&app, &browser, &client, "openid", "n2").await;
    let during_kid = jsonwebtoken::decode_header(during["id_token"].as_str().unwrap()).unwrap().kid.unwrap();
    assert_eq!(during_kid, old_kid, "the retired key signs until the new one has been published for a while");
    app.clock.advance(1);
    let after = code_flow(&app, &browser, &client, "openid", "n3").await;
    let new_token = after["id_token"].as_str().unwrap();
    let new_kid = jsonwebtoken::decode_header(new_token).unwrap().kid.unwrap();
    assert!(new_kids.contains(&new_kid), "signed with a new key");
    assert_ne!(new_kid, old_kid);
    // Both tokens verify against the published set.
    verify_id_token(&app, &old_token, &client.client_id).await;
    verify_id_token(&app, new_token, &client.client_id).await;

    // Once every token the old keys signed has expired (the last was signed
    // PUBLISH_AHEAD after the rotation), they are no longer published.
    app.clock.advance(lifetime - 1);
    assert!(jwks(&app).await.find(&old_kid).is_some(), "still published one second before");
    app.clock.advance(1);
    let published = jwks(&app).await;
    assert_eq!(published.keys.len(), 3);
    assert!(published.find(&old_kid).is_none());
    let stored = app.store.signing_keys().await.unwrap();
    assert_eq!(stored.iter().filter(|k| k.retired_at.is_some()).count(), 3, "retired, not deleted");
}

async fn sealed_keys_need_their_key(backend: Backend) {
    let kek = STANDARD.encode([9u8; 32]);
    let configured = kek.clone();
    let app = TestApp::spawn_with(backend, move |c| {
        c.oidc.key_encryption_key = portcullis::config::SecretSetting::new(configured);
    })
    .await;
    assert_eq!(jwks(&app).await.keys.len(), 3);
    let stored = app.store.signing_keys().await.unwrap();
    assert!(stored.iter().all(|k| k.encrypted), "every key sealed");
    // Sealed, the stored bytes are not a DER private key (which starts with a SEQUENCE,
    // 0x30, and for RSA holds the modulus published in the JWK).
    for key in &stored {
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        if let Some(n) = jwk["n"].as_str() {
            let modulus = URL_SAFE_NO_PAD.decode(n).unwrap();
            assert!(!key.private_key.windows(64).any(|w| w == &modulus[..64]), "the RSA key is stored in the clear");
        }
    }
    let claims = serde_json::json!({"sub": "1"});
    let now = app.clock_now();
    let no_key = KeyRing::new(app.store.clone(), None, 60);
    assert!(matches!(no_key.sign(SigningAlgorithm::Rs256, &claims, now).await, Err(KeyError::Sealed { .. })));
    let wrong =
        KeyRing::new(app.store.clone(), Some(KeyEncryptionKey::parse(&STANDARD.encode([8u8; 32])).unwrap()), 60);
    assert!(matches!(wrong.sign(SigningAlgorithm::Rs256, &claims, now).await, Err(KeyError::WrongKey { .. })));
    // Neither attempt made keys of its own.
    assert_eq!(app.store.signing_keys().await.unwrap().len(), 3);
    let right = KeyRing::new(app.store.clone(), Some(KeyEncryptionKey::parse(&kek).unwrap()), 60);
    let token = right.sign(SigningAlgorithm::EdDsa, &claims, now).await.unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert!(jwks(&app).await.find(&kid).is_some());
}

/// A code request for `client` with `extra` parameters (PKCE included).
fn openid_request(client: &Client, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut request = vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    request.extend_from_slice(extra);
    authorize_url(client, &request)
}

fn error_and_state(location: &str) -> (Option<String>, Option<String>) {
    assert!(location.starts_with(REDIRECT), "{location}");
    let pairs = query_of(location);
    (param(&pairs, "error"), param(&pairs, "state"))
}

async fn prompt_none_never_shows_a_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode];
    let client = register_signing_with(&app, ClientType::Public, &[REDIRECT], &grants, false, "RS256").await;
    let p = pkce();
    // Core §3.1.2.1 prompt=none: "The Authorization Server MUST NOT display any
    // authentication or consent user interface pages. An error is returned if an
    // End-User is not already authenticated or the Client does not have pre-configured
    // consent for the requested Claims".
    let anonymous = crate::helpers::Browser::new(&app);
    let answer = anonymous.get(&openid_request(&client, &p.challenge, &[("prompt", "none")])).await;
    assert_eq!(error_and_state(&answer.location()), (Some("login_required".into()), Some("st".into())));
    let browser = logged_in(&app).await;
    let answer = browser.get(&openid_request(&client, &p.challenge, &[("prompt", "none")])).await;
    assert_eq!(error_and_state(&answer.location()).0.as_deref(), Some("consent_required"));
    // Once consent is given (with approval_prompt=auto, as django-oauth-toolkit asks),
    // prompt=none answers with a code, no page.
    code_flow(&app, &browser, &client, "openid", "n").await;
    let url = openid_request(&client, &p.challenge, &[("prompt", "none"), ("approval_prompt", "auto")]);
    let answer = browser.get(&url).await;
    let pairs = query_of(&answer.location());
    assert!(param(&pairs, "code").is_some(), "{pairs:?}");
    // none with anything else is invalid_request; so is a malformed max_age.
    for extra in [[("prompt", "none login")], [("max_age", "-1")]] {
        let answer = browser.get(&openid_request(&client, &p.challenge, &extra)).await;
        assert_eq!(error_and_state(&answer.location()).0.as_deref(), Some("invalid_request"), "{extra:?}");
    }
}

/// Follows a redirect to the login page, which must show its form although the user
/// is logged in, and logs in there; returns where the login sends the browser.
async fn log_in_again(browser: &crate::helpers::Browser, login_location: &str) -> String {
    assert!(login_location.starts_with("/accounts/login/?next="), "{login_location}");
    assert!(login_location.ends_with("&again=1"), "{login_location}");
    let page = browser.get(login_location).await;
    assert_eq!(page.status, StatusCode::OK, "the form, not a redirect: {}", page.text);
    let next = hidden_field_value(&page.text, "next");
    let csrf = crate::helpers::csrf_token(&page.text);
    let form = [("username", "alice"), ("password", crate::helpers::PASSWORD), ("csrf_token", &csrf), ("next", &next)];
    let answer = browser.post("/accounts/login/", &form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    answer.location()
}

fn hidden_field_value(html: &str, name: &str) -> String {
    crate::helpers::hidden_field(html, name).unwrap_or_else(|| panic!("no {name} field"))
}

async fn prompt_login_and_max_age_make_the_user_log_in_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode];
    // Skips consent, so every step here is about logging in.
    let client = register_signing_with(&app, ClientType::Public, &[REDIRECT], &grants, true, "RS256").await;
    let browser = logged_in(&app).await;
    let first_login = app.clock_now();
    app.clock.advance(600);
    let p = pkce();

    // max_age 1000 > 600 s since the login: no new login.
    let answer = browser.get(&openid_request(&client, &p.challenge, &[("max_age", "1000")])).await;
    assert!(param(&query_of(&answer.location()), "code").is_some());
    // max_age 300 < 600: Core §3.1.2.1 "the OP MUST attempt to actively re-authenticate".
    let url = openid_request(&client, &p.challenge, &[("max_age", "300"), ("nonce", "n-max")]);
    let answer = browser.get(&url).await;
    let back = log_in_again(&browser, &answer.location()).await;
    assert!(back.starts_with("/o/authorize/?") && back.contains("max_age=300"), "{back}");
    let answer = browser.get(&back).await;
    let code = param(&query_of(&answer.location()), "code").expect("a code after the new login");
    let tokens = exchange(&app, &client, &code, &p.verifier).await;
    let (_, claims) = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client.client_id).await;
    // Core §3.1.2.1: "When max_age is used, the ID Token returned MUST include an
    // auth_time Claim Value", here the new login's.
    assert_eq!(claims["auth_time"], first_login + 600);

    // prompt=login: a fresh login even a moment after the last one, and back without
    // prompt=login, so the request does not loop.
    let answer = browser.get(&openid_request(&client, &p.challenge, &[("prompt", "login consent")])).await;
    let back = log_in_again(&browser, &answer.location()).await;
    assert!(!back.contains("login"), "prompt=login is dropped: {back}");
    assert!(back.contains("prompt=consent"), "the other prompt values stay: {back}");
    let page = browser.get(&back).await;
    assert_eq!(page.status, StatusCode::OK, "prompt=consent shows the page even for a skip-authorization client");
    assert!(page.text.contains("Authorize Photo Printer?"));
}

async fn id_token_hint_names_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode];
    let client = register_signing_with(&app, ClientType::Public, &[REDIRECT], &grants, true, "ES256").await;
    let browser = logged_in(&app).await;
    let tokens = code_flow_skipping_consent(&app, &browser, &client).await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();
    let p = pkce();
    // Alice's own ID token, even once it has expired (Core §3.1.2.1: "the OP SHOULD
    // treat it as a hint even if expired"): a code with prompt=none.
    app.clock.advance(36000 + 10);
    let answer =
        browser.get(&openid_request(&client, &p.challenge, &[("prompt", "none"), ("id_token_hint", &hint)])).await;
    assert!(param(&query_of(&answer.location()), "code").is_some(), "{}", answer.location());
    // Bob logged in with alice's hint: login_required.
    app.user("bob").await;
    let bob = crate::helpers::Browser::new(&app);
    bob.login("bob", crate::helpers::PASSWORD).await;
    let answer = bob.get(&openid_request(&client, &p.challenge, &[("id_token_hint", &hint)])).await;
    assert_eq!(error_and_state(&answer.location()).0.as_deref(), Some("login_required"));
    // A hint with its signature altered, or issued to another client, is not a hint.
    let mut forged = hint.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let other = register_signing_with(&app, ClientType::Public, &[REDIRECT], &grants, true, "ES256").await;
    for (client, hint) in [(&client, forged.as_str()), (&other, hint.as_str()), (&client, "not-a-jwt")] {
        let answer = browser.get(&openid_request(client, &p.challenge, &[("id_token_hint", hint)])).await;
        assert_eq!(error_and_state(&answer.location()).0.as_deref(), Some("invalid_request"), "{hint}");
    }
}

/// The code flow for a client that skips consent.
async fn code_flow_skipping_consent(app: &TestApp, browser: &crate::helpers::Browser, client: &Client) -> Value {
    let p = pkce();
    let answer = browser.get(&openid_request(client, &p.challenge, &[])).await;
    let code = param(&query_of(&answer.location()), "code").unwrap();
    exchange(app, client, &code, &p.verifier).await
}

/// The parameters in a redirect's fragment.
fn fragment_of(location: &str) -> Vec<(String, String)> {
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(location).unwrap();
    assert!(url.query().is_none(), "nothing in the query: {location}");
    let fragment = url.fragment().unwrap_or_else(|| panic!("no fragment: {location}"));
    form_urlencoded::parse(fragment.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn left_half_sha256(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

async fn hybrid_and_implicit_responses_carry_bound_id_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode, GrantType::OpenidHybrid, GrantType::Implicit];
    let client = register_signing_with(&app, ClientType::Public, &[REDIRECT], &grants, true, "RS256").await;
    let browser = logged_in(&app).await;
    for response_type in
        ["code id_token", "id_token code", "code token", "code id_token token", "id_token", "id_token token"]
    {
        let p = pkce();
        let url = openid_request(&client, &p.challenge, &[("nonce", "n-hybrid")])
            .replace("response_type=code", &format!("response_type={}", response_type.replace(' ', "+")));
        let answer = browser.get(&url).await;
        // Multiple Response Type Encoding Practices §5: these answer in the fragment.
        let pairs = fragment_of(&answer.location());
        assert_eq!(param(&pairs, "state").as_deref(), Some("st"), "{response_type}");
        let code = param(&pairs, "code");
        let access = param(&pairs, "access_token");
        let id_token = param(&pairs, "id_token");
        assert_eq!(code.is_some(), response_type.contains("code"), "{response_type}: {pairs:?}");
        assert_eq!(access.is_some(), response_type.split(' ').any(|v| v == "token"), "{response_type}: {pairs:?}");
        assert_eq!(id_token.is_some(), response_type.contains("id_token"), "{response_type}: {pairs:?}");
        if let Some(id_token) = &id_token {
            let (_, claims) = verify_id_token(&app, id_token, &client.client_id).await;
            assert_eq!(claims["nonce"], "n-hybrid", "{response_type}");
            // Core §3.3.2.11: "c_hash … If the ID Token is issued from the Authorization
            // Endpoint with a code, which is the case for the response_type values code
            // id_token and code id_token token, this is REQUIRED"; at_hash likewise with
            // an access token (§3.2.2.10, §3.3.2.11).
            assert_eq!(claims["c_hash"].as_str().map(str::to_owned), code.as_deref().map(left_half_sha256));
            assert_eq!(claims["at_hash"].as_str().map(str::to_owned), access.as_deref().map(left_half_sha256));
        }
        if let Some(access) = &access {
            assert_eq!(param(&pairs, "token_type").as_deref(), Some("Bearer"));
            assert!(param(&pairs, "refresh_token").is_none(), "RFC 6749 §4.2.2: no refresh token");
            let me = app.get_with_token("/o/userinfo/", access).await;
            assert_eq!(me.json()["preferred_username"], serde_json::Value::Null, "scope openid only");
        }
        if let Some(code) = &code {
            // The code still goes to the token endpoint, with PKCE, for an ID token too.
            let tokens = exchange(&app, &client, code, &p.verifier).await;
            let (_, claims) = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &client.client_id).await;
            assert_eq!(claims["nonce"], "n-hybrid");
        }
    }
}

async fn id_token_responses_need_openid_a_nonce_and_the_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let code_only = [GrantType::AuthorizationCode];
    let hybrid = [GrantType::AuthorizationCode, GrantType::OpenidHybrid];
    let plain = register_signing_with(&app, ClientType::Public, &[REDIRECT], &code_only, true, "RS256").await;
    let client = register_signing_with(&app, ClientType::Public, &[REDIRECT], &hybrid, true, "RS256").await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let ask = |client: &Client, response_type: &str, extra: &[(&str, &str)]| {
        openid_request(client, &p.challenge, extra)
            .replace("response_type=code", &format!("response_type={}", response_type.replace(' ', "+")))
    };
    let cases: Vec<(String, &str)> = vec![
        // Core §3.3.2.11: "nonce … REQUIRED" for code id_token.
        (ask(&client, "code id_token", &[]), "invalid_request"),
        // An ID token without the openid scope is not OpenID Connect.
        (ask(&client, "code id_token", &[("nonce", "n")]).replace("scope=openid", "scope=read"), "invalid_scope"),
        // The hybrid flow needs the openid-hybrid grant; implicit id_token the implicit one.
        (ask(&plain, "code id_token", &[("nonce", "n")]), "unauthorized_client"),
        (ask(&client, "id_token", &[("nonce", "n")]), "unauthorized_client"),
    ];
    for (url, error) in cases {
        let answer = browser.get(&url).await;
        let pairs = fragment_of(&answer.location());
        assert_eq!(param(&pairs, "error").as_deref(), Some(error), "{url}");
        assert_eq!(param(&pairs, "state").as_deref(), Some("st"));
    }
    // Repeated or unknown values are unsupported, answered in the query.
    for response_type in ["code code", "code none", "token_id"] {
        let answer = browser.get(&ask(&client, response_type, &[("nonce", "n")])).await;
        let pairs = query_of(&answer.location());
        assert_eq!(param(&pairs, "error").as_deref(), Some("unsupported_response_type"), "{response_type}");
    }
}

const BYE: &str = "https://client.example/bye";

/// A public client that skips consent, with [`BYE`] as its post-logout redirect URI.
async fn logout_client(app: &TestApp, name: &str) -> Client {
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let fields = portcullis::store::ApplicationSettings {
        name: name.into(),
        client_type: ClientType::Public,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![BYE.into()],
        allowed_origins: vec![],
        allowed_scopes: None,
        skip_authorization: true,
        algorithm: portcullis::proto::SigningAlgorithm::Rs256,
        access_token_format: portcullis::proto::AccessTokenFormat::Opaque,
        resource_server_uris: vec![],
    };
    app.store.create_application(&client_id, None, None, &fields, app.clock_now()).await.unwrap();
    Client { client_id, secret: None }
}

fn logout_url(pairs: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("/o/logout/?{query}")
}

async fn still_logged_in(browser: &crate::helpers::Browser) -> bool {
    browser.get("/o/applications/").await.status == StatusCode::OK
}

async fn logout_with_a_hint_ends_the_session_and_that_clients_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app).await;
    let rp = logout_client(&app, "Photo Printer").await;
    let other = logout_client(&app, "Other").await;
    let tokens = code_flow_skipping_consent(&app, &browser, &rp).await;
    let others = code_flow_skipping_consent(&app, &browser, &other).await;
    let access = tokens["access_token"].as_str().unwrap();
    let hint = tokens["id_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/o/userinfo/", access).await, StatusCode::OK);

    // RP-Initiated Logout §2: id_token_hint, post_logout_redirect_uri and state; the hint
    // names the user logged in, so no question is asked.
    let answer =
        browser.get(&logout_url(&[("id_token_hint", hint), ("post_logout_redirect_uri", BYE), ("state", "s 1")])).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert_eq!(answer.location(), format!("{BYE}?state=s+1"), "§3: back to the RP with its state");
    assert!(!still_logged_in(&browser).await, "the session is over");
    // That client's tokens are revoked, access and refresh; the other client's are not.
    assert_eq!(app.status_with_token("/o/userinfo/", access).await, StatusCode::UNAUTHORIZED);
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    app.token(&rp, &refresh).await.assert_error(400, "invalid_grant");
    assert_eq!(app.status_with_token("/o/userinfo/", others["access_token"].as_str().unwrap()).await, StatusCode::OK);
    // Logging out keeps the consent: logging in again does not ask anew.
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();
    let registered = app.store.application_by_client_id(&rp.client_id).await.unwrap().unwrap();
    assert!(app.store.consent(alice.id, registered.id).await.unwrap().is_some());

    // Logged out already, the same request still goes back to the RP.
    let again = browser.get(&logout_url(&[("id_token_hint", hint), ("post_logout_redirect_uri", BYE)])).await;
    assert_eq!(again.location(), BYE);
    // No parameters, nobody logged in: a page that says so.
    let page = crate::helpers::Browser::new(&app).get("/o/logout/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("You are logged out"), "{}", page.text);
}

async fn logout_without_a_hint_asks_first_and_never_redirects_anywhere_unregistered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let browser = logged_in(&app).await;
    let rp = logout_client(&app, "Photo Printer").await;
    let other = logout_client(&app, "Other").await;
    let tokens = code_flow_skipping_consent(&app, &browser, &rp).await;
    let other_tokens = code_flow_skipping_consent(&app, &browser, &other).await;

    // Refused outright, as a page (never a redirect), changing nothing: a URI that is
    // not registered (or not exactly), one without a client to check it against, a
    // client_id that contradicts the hint, a hint that does not verify.
    let hint = tokens["id_token"].as_str().unwrap();
    let mut forged = hint.to_owned();
    forged.truncate(forged.len() - 2);
    let bad: Vec<Vec<(&str, &str)>> = vec![
        vec![("client_id", &rp.client_id), ("post_logout_redirect_uri", "https://evil.example/bye")],
        vec![("client_id", &rp.client_id), ("post_logout_redirect_uri", "https://client.example/bye/")],
        vec![("post_logout_redirect_uri", BYE)],
        vec![("id_token_hint", hint), ("client_id", &other.client_id)],
        vec![("id_token_hint", &forged)],
        vec![("client_id", "no-such-client")],
    ];
    for pairs in bad {
        let answer = browser.get(&logout_url(&pairs)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{pairs:?}");
        assert!(answer.header("location").is_none());
        assert!(still_logged_in(&browser).await, "{pairs:?} logged the user out");
    }

    // §2: "the OP SHOULD ask the End-User whether to log out": a page with a form, on
    // GET and on a POST from the RP alike, and framing refused.
    let url = logout_url(&[("client_id", &rp.client_id), ("post_logout_redirect_uri", BYE), ("state", "st")]);
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Log out?") && page.text.contains("Photo Printer"), "{}", page.text);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(still_logged_in(&browser).await, "showing the question logs nobody out");
    let posted = browser.post("/o/logout/", &[("client_id", &rp.client_id), ("post_logout_redirect_uri", BYE)]).await;
    assert_eq!(posted.status, StatusCode::OK, "a POST without confirm gets the question too");
    // The answer needs the form's CSRF token.
    let forged_answer =
        browser.post("/o/logout/", &[("client_id", &rp.client_id), ("confirm", "yes"), ("csrf_token", "wrong")]).await;
    assert_eq!(forged_answer.status, StatusCode::FORBIDDEN, "{}", forged_answer.text);
    assert!(still_logged_in(&browser).await);
    // "Stay logged in" changes nothing.
    let csrf = crate::helpers::csrf_token(&page.text);
    let stay =
        browser.post("/o/logout/", &[("client_id", &rp.client_id), ("stay", "yes"), ("csrf_token", &csrf)]).await;
    assert_eq!(stay.status, StatusCode::SEE_OTHER);
    assert!(still_logged_in(&browser).await);
    assert_eq!(app.status_with_token("/o/userinfo/", tokens["access_token"].as_str().unwrap()).await, StatusCode::OK);
    // Confirming logs out, revokes that client's tokens, and goes back with the state.
    let mut form: Vec<(String, String)> = ["client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .map(|name| ((*name).to_owned(), crate::helpers::hidden_field(&page.text, name).unwrap()))
        .collect();
    form.push(("csrf_token".into(), csrf));
    form.push(("confirm".into(), "yes".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = browser.post("/o/logout/", &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), format!("{BYE}?state=st"));
    assert!(!still_logged_in(&browser).await);
    assert_eq!(
        app.status_with_token("/o/userinfo/", tokens["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    let other_access = other_tokens["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/o/userinfo/", other_access).await, StatusCode::OK);
}

async fn logout_can_leave_tokens_alone(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oidc.logout_revokes_tokens = false).await;
    let browser = logged_in(&app).await;
    let rp = logout_client(&app, "Photo Printer").await;
    let tokens = code_flow_skipping_consent(&app, &browser, &rp).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let answer = browser.get(&logout_url(&[("id_token_hint", hint), ("post_logout_redirect_uri", BYE)])).await;
    assert_eq!(answer.location(), BYE);
    assert!(!still_logged_in(&browser).await, "the session still ends");
    assert_eq!(app.status_with_token("/o/userinfo/", tokens["access_token"].as_str().unwrap()).await, StatusCode::OK);
}

/// The confirmation page's form, as a person submitting it with `button` would send it.
fn confirmation_form(page: &str, button: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = ["client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|name| crate::helpers::hidden_field(page, name).map(|v| ((*name).to_owned(), v)))
        .collect();
    form.push(("csrf_token".into(), crate::helpers::csrf_token(page)));
    form.push((button.into(), "yes".into()));
    form
}

fn pairs(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// RP-Initiated Logout 1.0 §3: "An id_token_hint carrying an ID Token for the RP is also
/// RECOMMENDED when requesting post-logout redirection; if it is not supplied with
/// post_logout_redirect_uri, the OP MUST NOT perform post-logout redirection unless the
/// OP has other means of confirming the legitimacy of the post-logout redirection
/// target." Anyone who can register an application can register any URI, so a
/// `client_id` confirms nothing: without a verified hint, the person is asked first, on
/// a page that names the host they would be sent to, logged in or not.
async fn logout_asks_a_visitor_before_sending_them_anywhere_without_a_hint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = logout_client(&app, "Photo Printer").await;
    let request = logout_url(&[("client_id", &rp.client_id), ("post_logout_redirect_uri", BYE), ("state", "st")]);

    // A stranger (no session at all) following a link: a page, not a redirect.
    let stranger = crate::helpers::Browser::new(&app);
    let page = stranger.get(&request).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.header("location").is_none());
    assert!(page.text.contains("client.example"), "the page names the host: {}", page.text);
    assert!(page.text.contains("Photo Printer"), "{}", page.text);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // An RP posting the request gets the same question.
    let posted = stranger.post("/o/logout/", &[("client_id", &rp.client_id), ("post_logout_redirect_uri", BYE)]).await;
    assert_eq!(posted.status, StatusCode::OK);
    assert!(posted.header("location").is_none());
    // The answer is a CSRF-checked POST: a forged or missing token is refused.
    let mut forged = confirmation_form(&page.text, "confirm");
    forged.retain(|(k, _)| k != "csrf_token");
    let refused = stranger.post("/o/logout/", &pairs(&forged)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    forged.push(("csrf_token".into(), "wrong".into()));
    let refused = stranger.post("/o/logout/", &pairs(&forged)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    // A page elsewhere cannot answer for the stranger: it has no session of theirs.
    let elsewhere = crate::helpers::Browser::new(&app);
    let refused = elsewhere.post("/o/logout/", &pairs(&confirmation_form(&page.text, "confirm"))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    // "Stay here" stays.
    let stay = stranger.post("/o/logout/", &pairs(&confirmation_form(&page.text, "stay"))).await;
    assert_eq!(stay.status, StatusCode::SEE_OTHER);
    assert!(!stay.location().starts_with(BYE), "{}", stay.location());
    // Confirmed, the stranger goes to the registered URI, with the state.
    let page = stranger.get(&request).await;
    let done = stranger.post("/o/logout/", &pairs(&confirmation_form(&page.text, "confirm"))).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(done.location(), format!("{BYE}?state=st"));

    // Logged in, the question names the host too.
    let browser = logged_in(&app).await;
    let page = browser.get(&request).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Log out?") && page.text.contains("client.example"), "{}", page.text);

    // Nothing to redirect to and nobody to log out: nothing to ask.
    let nothing = crate::helpers::Browser::new(&app).get(&logout_url(&[("client_id", &rp.client_id)])).await;
    assert_eq!(nothing.status, StatusCode::OK);
    assert!(nothing.text.contains("You are logged out"), "{}", nothing.text);
}

/// RP-Initiated Logout 1.0 §2: `id_token_hint` is an "ID Token previously issued by the
/// OP to the RP" (Core §3.1.2.1 likewise at the authorization endpoint). A JWT access
/// token looks much like one (RFC 9068 §5: "The JWT access token data layout described
/// here is very similar to that of the id_token"), down to its `aud` when
/// `jwt_access_token_audience` names the client; "The explicit typing required in this
/// profile [...] helps the resource server to distinguish between JWT access tokens and
/// ID Tokens" (§2.1: `typ` "at+jwt"). The server makes the same distinction, at the
/// logout and authorization endpoints alike.
async fn only_id_tokens_are_hints(backend: Backend) {
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let audience = client_id.clone();
    let app = TestApp::spawn_with(backend, move |c| c.oauth2.jwt_access_token_audience = audience).await;
    let secret = portcullis::crypto::Secret::generate();
    let fields = portcullis::store::ApplicationSettings {
        name: "Photo Printer".into(),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::Password],
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![BYE.into()],
        allowed_origins: vec![],
        allowed_scopes: None,
        skip_authorization: true,
        algorithm: portcullis::proto::SigningAlgorithm::Rs256,
        access_token_format: portcullis::proto::AccessTokenFormat::Jwt,
        resource_server_uris: vec![],
    };
    app.store.create_application(&client_id, Some(&secret.hash()), None, &fields, app.clock_now()).await.unwrap();
    let client = Client { client_id: client_id.clone(), secret: Some(secret.expose().to_owned()) };
    let browser = logged_in(&app).await;
    let alice = app.store.user_by_username("alice").await.unwrap().unwrap();

    // Alice's JWT access token: signed by the server, for its issuer, `sub` alice, `aud`
    // the client. Everything the hint checks, but it is not an ID token.
    let tokens = app.password_token(&client, "alice", Some("openid read")).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (header, claims) = verify_signed(&app, access, &client_id).await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].as_str()),
        (Some(alice.id.to_string().as_str()), Some(&*client_id))
    );

    // At logout it is refused, as a page: no redirect, and the session goes on.
    let answer = browser.get(&logout_url(&[("id_token_hint", access), ("post_logout_redirect_uri", BYE)])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.header("location").is_none());
    assert!(still_logged_in(&browser).await, "an access token ended the session");
    let stranger = crate::helpers::Browser::new(&app);
    let answer = stranger.get(&logout_url(&[("id_token_hint", access), ("post_logout_redirect_uri", BYE)])).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.header("location").is_none());
    // Nor at the authorization endpoint, where a hint that is not an ID token of the
    // client's is invalid_request.
    let p = pkce();
    let answer =
        browser.get(&openid_request(&client, &p.challenge, &[("prompt", "none"), ("id_token_hint", access)])).await;
    assert_eq!(error_and_state(&answer.location()).0.as_deref(), Some("invalid_request"));

    // The client's real ID token for alice is still a hint.
    let tokens = code_flow_skipping_consent(&app, &browser, &client).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(id_token).unwrap().typ.as_deref(), Some("JWT"));
    let answer = browser.get(&logout_url(&[("id_token_hint", id_token), ("post_logout_redirect_uri", BYE)])).await;
    assert_eq!(answer.location(), BYE);
    assert!(!still_logged_in(&browser).await);
}
