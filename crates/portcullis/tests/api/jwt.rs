//! JWT access tokens (RFC 9068) for applications that choose them: their shape, their
//! signature through the JWKS, and that the server treats them as it treats opaque
//! tokens (its own API, introspection, revocation, refresh).

use std::collections::HashSet;

use portcullis::proto::SigningAlgorithm;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TestApp};
use crate::oidc::{alg_of, verify_signed, ISSUER};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        jwt_access_tokens_follow_rfc9068_for_each_algorithm,
        jwt_access_tokens_work_like_opaque_ones_at_the_server,
        jwt_audience_is_a_setting,
    ]
}

/// Checks the token's signature, issuer and audience as a resource server would
/// (RFC 9068 §4), and returns its header and claims.
async fn verify_access_token(app: &TestApp, token: &str, audience: &str) -> (jsonwebtoken::Header, Value) {
    verify_signed(app, token, audience).await
}

async fn jwt_access_tokens_follow_rfc9068_for_each_algorithm(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let mut jtis = HashSet::new();
    for alg in SigningAlgorithm::ALL {
        let client = app.jwt_client(alg.as_str()).await;
        let answer = app.password_token(&client, "alice", Some("read write")).await;
        let token = answer["access_token"].as_str().unwrap();
        let (header, claims) = verify_access_token(&app, token, ISSUER).await;
        // RFC 9068 §2.1: "Access tokens MUST be signed"; "JWT access tokens MUST include
        // this media type in the "typ" header parameter to explicitly declare that the
        // JWT represents an access token complying with this profile."
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, alg_of(alg), "signed with the application's algorithm");
        let now = app.clock_now();
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], ISSUER, "with no audience set, the issuer");
        assert_eq!(claims["sub"], alice.id.to_string(), "§2.2: the resource owner, as introspection names them");
        assert_eq!(claims["client_id"], client.client_id.as_str());
        assert_eq!(claims["iat"], now);
        assert_eq!(claims["exp"], now + answer["expires_in"].as_i64().unwrap());
        assert_eq!(claims["scope"], "read write", "§2.2.3: the granted scope");
        let jti = claims["jti"].as_str().expect("§2.2: jti is REQUIRED");
        assert!(jtis.insert(jti.to_owned()), "jti {jti} repeated");
        assert!(claims.get("username").is_none() && claims.get("email").is_none(), "no identity claims: {claims}");

        // §2.2: "In cases of access tokens obtained through grants where no resource
        // owner is involved, such as the client credentials grant, the value of "sub"
        // SHOULD correspond to an identifier the authorization server uses to indicate
        // the client application."
        let own = app.client_credentials(&client).await;
        let (_, claims) = verify_access_token(&app, own["access_token"].as_str().unwrap(), ISSUER).await;
        assert_eq!(claims["sub"], client.client_id.as_str());
        assert_eq!(claims["client_id"], client.client_id.as_str());
    }

    // Applications that did not choose JWTs keep getting opaque tokens.
    let opaque = app.confidential().await;
    let answer = app.password_token(&opaque, "alice", None).await;
    let token = answer["access_token"].as_str().unwrap();
    assert!(jsonwebtoken::decode_header(token).is_err(), "an opaque token: {token}");
}

async fn jwt_access_tokens_work_like_opaque_ones_at_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = app.user("alice").await;
    let client = app.jwt_client("ES256").await;
    let caller = app.confidential().await;
    let answer = app.password_token(&client, "alice", Some("read")).await;
    let token = answer["access_token"].as_str().unwrap();

    assert_eq!(app.status_with_token("/api/hello/", token).await, StatusCode::OK);
    let me = app.get_with_token("/api/me/", token).await;
    assert_eq!((me.status, me.json()["username"].clone()), (StatusCode::OK, Value::from("alice")));
    let info = app.introspect(&caller, token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], alice.id.to_string());
    assert_eq!(info["client_id"], client.client_id.as_str());

    // A refresh gives a new JWT, and the old one stops working (rotation revokes it).
    let refresh = answer["refresh_token"].as_str().unwrap();
    let renewed = app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    let renewed = renewed.assert_token();
    let new_token = renewed["access_token"].as_str().unwrap();
    let (header, claims) = verify_access_token(&app, new_token, ISSUER).await;
    assert_eq!((header.typ.as_deref(), claims["sub"].clone()), (Some("at+jwt"), Value::from(alice.id.to_string())));

    // Revocation (RFC 7009) holds at the server: a JWT is refused there at once, though
    // a resource server that checks it offline accepts it until it expires.
    let revoked = app.post_form("/o/revoke_token/", Some(&client), &[("token", new_token)]).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(app.introspect(&caller, new_token).await, serde_json::json!({"active": false}));
    assert_eq!(app.status_with_token("/api/hello/", new_token).await, StatusCode::UNAUTHORIZED);

    // A JWT the server never issued, signed by nobody it knows, is refused as unknown.
    let mut forged: Vec<&str> = token.split('.').collect();
    forged[2] = "AAAA";
    assert_eq!(app.status_with_token("/api/hello/", &forged.join(".")).await, StatusCode::UNAUTHORIZED);
}

async fn jwt_audience_is_a_setting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.oauth2.jwt_access_token_audience = "https://photos.example/api".into();
    })
    .await;
    app.user("alice").await;
    let client = app.jwt_client("EdDSA").await;
    let answer = app.password_token(&client, "alice", None).await;
    let (_, claims) =
        verify_access_token(&app, answer["access_token"].as_str().unwrap(), "https://photos.example/api").await;
    assert_eq!(claims["aud"], "https://photos.example/api");
}
