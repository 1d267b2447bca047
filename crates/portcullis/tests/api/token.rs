//! The token endpoint (RFC 6749 §3.2, §4.3, §4.4, §5).

use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;

use crate::helpers::{read, Backend, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        client_credentials_success,
        password_grant_success,
        json_bodies_are_accepted,
        body_client_authentication,
        public_client_sends_client_id_alone,
        wrong_secret_with_basic_is_401_with_challenge,
        wrong_secret_in_body_is_401_without_challenge,
        unknown_or_missing_client_is_invalid_client,
        grant_type_errors,
        unauthorized_client,
        wrong_credentials_are_invalid_grant,
        scope_rules,
        malformed_requests_get_clean_400s,
        path_without_trailing_slash_and_wrong_method,
        access_token_expiry_follows_the_setting,
        cors_answers_only_configured_origins,
        cors_follows_each_applications_allowed_origins,
    ]
}

async fn client_credentials_success(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let body = app.client_credentials(&client).await;
    assert_eq!(body["expires_in"], 36000);
    assert_eq!(body["scope"], "read", "omitted scope means the default scopes");
    // RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included."
    assert!(body.get("refresh_token").is_none());
    let hello = app.get_with_token("/api/hello/", body["access_token"].as_str().unwrap()).await;
    assert_eq!((hello.status, hello.text.as_str()), (StatusCode::OK, "Hello, there!!"));
}

async fn password_grant_success(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let body = app.password_token(&client, "alice", Some("read write")).await;
    assert_eq!(body["scope"], "read write");
    assert!(body["refresh_token"].as_str().is_some_and(|t| t.len() >= 32));
    assert_ne!(body["refresh_token"], body["access_token"]);
    let me = app.get_with_token("/api/me/", body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["username"], "alice");
}

async fn json_bodies_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    let response = app
        .http
        .post(app.url("/o/token/"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "password", "username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    read(response).await.assert_token();
}

async fn body_client_authentication(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let secret = client.secret.clone().unwrap();
    let answer = app
        .post_form(
            "/o/token/",
            None,
            &[("grant_type", "client_credentials"), ("client_id", &client.client_id), ("client_secret", &secret)],
        )
        .await;
    answer.assert_token();
}

async fn public_client_sends_client_id_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client(ClientType::Public, &[GrantType::Password], None).await;
    app.user("bob").await;
    let form = [
        ("grant_type", "password"),
        ("client_id", client.client_id.as_str()),
        ("username", "bob"),
        ("password", PASSWORD),
    ];
    app.post_form("/o/token/", None, &form).await.assert_token();
    // With Basic and an empty password, as many client libraries send it.
    app.token(&client, &[("grant_type", "password"), ("username", "bob"), ("password", PASSWORD)]).await.assert_token();
    // A public client has no secret: presenting one fails.
    let fake = Client { client_id: client.client_id.clone(), secret: Some("guess".into()) };
    app.token(&fake, &[("grant_type", "password"), ("username", "bob"), ("password", PASSWORD)])
        .await
        .assert_error(401, "invalid_client");
}

async fn wrong_secret_with_basic_is_401_with_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let wrong = Client { client_id: client.client_id.clone(), secret: Some("wrong-secret".into()) };
    let answer = app.token(&wrong, &[("grant_type", "client_credentials")]).await;
    // RFC 6749 §5.2: "If the client attempted to authenticate via the "Authorization"
    // request header field, the authorization server MUST respond with an HTTP 401
    // (Unauthorized) status code and include the "WWW-Authenticate" response header
    // field matching the authentication scheme used by the client."
    answer.assert_error(401, "invalid_client");
    assert!(answer.header("www-authenticate").unwrap().starts_with("Basic "));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

async fn wrong_secret_in_body_is_401_without_challenge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let form =
        [("grant_type", "client_credentials"), ("client_id", client.client_id.as_str()), ("client_secret", "nope")];
    let answer = app.post_form("/o/token/", None, &form).await;
    answer.assert_error(401, "invalid_client");
    assert_eq!(answer.header("www-authenticate"), None);
}

async fn unknown_or_missing_client_is_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stranger = Client { client_id: "no-such-client".into(), secret: Some("x".into()) };
    app.token(&stranger, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
    // No authentication at all.
    app.post_form("/o/token/", None, &[("grant_type", "client_credentials")]).await.assert_error(401, "invalid_client");
    // A confidential client that leaves out its secret.
    let client = app.confidential().await;
    let form = [("grant_type", "client_credentials"), ("client_id", client.client_id.as_str())];
    app.post_form("/o/token/", None, &form).await.assert_error(401, "invalid_client");
}

async fn grant_type_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.token(&client, &[("scope", "read")]).await.assert_error(400, "invalid_request");
    app.token(&client, &[("grant_type", "magic")]).await.assert_error(400, "unsupported_grant_type");
    // This client was not registered for the device grant either.
    app.token(&client, &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("device_code", "x")])
        .await
        .assert_error(400, "unauthorized_client");
    // This client was not registered for the authorization code grant.
    app.token(&client, &[("grant_type", "authorization_code"), ("code", "x")])
        .await
        .assert_error(400, "unauthorized_client");
}

async fn unauthorized_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // "The authenticated client is not authorized to use this authorization grant type."
    let cc_only = app.client(ClientType::Confidential, &[GrantType::ClientCredentials], None).await;
    app.user("alice").await;
    app.token(&cc_only, &[("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)])
        .await
        .assert_error(400, "unauthorized_client");
    let pw_only = app.client(ClientType::Confidential, &[GrantType::Password], None).await;
    app.token(&pw_only, &[("grant_type", "client_credentials")]).await.assert_error(400, "unauthorized_client");
}

async fn wrong_credentials_are_invalid_grant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.user("alice").await;
    for (username, password) in [("alice", "wrong password"), ("nobody", PASSWORD), ("ALICE", PASSWORD)] {
        app.token(&client, &[("grant_type", "password"), ("username", username), ("password", password)])
            .await
            .assert_error(400, "invalid_grant");
    }
    app.token(&client, &[("grant_type", "password"), ("username", "alice")]).await.assert_error(400, "invalid_request");
}

async fn scope_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let cc = |scope: &'static str| [("grant_type", "client_credentials"), ("scope", scope)];
    let body = app.token(&client, &cc("write read")).await.assert_token();
    assert_eq!(body["scope"], "read write");
    // RFC 6749 §5.2 invalid_scope: "The requested scope is invalid, unknown, malformed,
    // or exceeds the scope granted by the resource owner."
    app.token(&client, &cc("read admin")).await.assert_error(400, "invalid_scope");
    app.token(&client, &cc("read \"x\"")).await.assert_error(400, "invalid_scope");
    // An application limited to some scopes gets no others.
    let limited = app.client(ClientType::Confidential, &[GrantType::ClientCredentials], Some("write")).await;
    app.token(&limited, &cc("write")).await.assert_token();
    app.token(&limited, &cc("read")).await.assert_error(400, "invalid_scope");
    // Its default scope (read) is not allowed for it, so omitting the scope fails.
    app.token(&limited, &[("grant_type", "client_credentials")]).await.assert_error(400, "invalid_scope");
}

async fn malformed_requests_get_clean_400s(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    let post = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut request = app.http.post(app.url("/o/token/")).basic_auth(&client.client_id, client.secret.as_deref());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.body(body).send()
    };
    let form = Some("application/x-www-form-urlencoded");
    // RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
    let repeated = read(post(b"grant_type=client_credentials&grant_type=password".to_vec(), form).await.unwrap()).await;
    repeated.assert_error(400, "invalid_request");
    let unknown_type = read(post(b"grant_type=client_credentials".to_vec(), Some("text/plain")).await.unwrap()).await;
    unknown_type.assert_error(400, "invalid_request");
    let bad_json = read(post(b"{\"grant_type\":".to_vec(), Some("application/json")).await.unwrap()).await;
    bad_json.assert_error(400, "invalid_request");
    let json_number = read(post(b"{\"grant_type\":1}".to_vec(), Some("application/json")).await.unwrap()).await;
    json_number.assert_error(400, "invalid_request");
    let huge = format!("grant_type=client_credentials&scope={}", "a".repeat(64 * 1024));
    // On its own connection: the server answers before reading the whole body and then
    // closes the connection, which a pooled client must not reuse.
    let oversized = read(
        reqwest::Client::new()
            .post(app.url("/o/token/"))
            .basic_auth(&client.client_id, client.secret.as_deref())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(huge)
            .send()
            .await
            .unwrap(),
    )
    .await;
    oversized.assert_error(400, "invalid_request");
    let bad_utf8 = read(post(b"grant_type=client_credentials&scope=%C3%28".to_vec(), form).await.unwrap()).await;
    bad_utf8.assert_error(400, "invalid_request");

    // Bad Basic headers.
    for header in ["Basic !!!notbase64", "Basic bm9jb2xvbg==", "Basic "] {
        let answer = read(
            app.http
                .post(app.url("/o/token/"))
                .header("authorization", header)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        answer.assert_error(400, "invalid_request");
    }
    // Two authentication methods at once: RFC 6749 §2.3 "The client MUST NOT use more
    // than one authentication method in each request."
    let secret = client.secret.clone().unwrap();
    app.token(&client, &[("grant_type", "client_credentials"), ("client_secret", &secret)])
        .await
        .assert_error(400, "invalid_request");
}

async fn path_without_trailing_slash_and_wrong_method(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.confidential().await;
    app.post_form("/o/token", Some(&client), &[("grant_type", "client_credentials")]).await.assert_token();
    let get = app.http.get(app.url("/o/token/")).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn access_token_expiry_follows_the_setting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.access_token_expire_seconds = 120).await;
    let client = app.confidential().await;
    let body = app.client_credentials(&client).await;
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();
    app.clock.advance(119);
    assert_eq!(app.status_with_token("/api/hello/", token).await, StatusCode::OK);
    app.clock.advance(1);
    let expired = app.get_with_token("/api/hello/", token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert!(expired.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
}

/// A client-credentials token request from a page on `https://spa.example`.
async fn token_from_spa(app: &TestApp) -> crate::helpers::Answer {
    let client = app.confidential().await;
    let request = app
        .http
        .post(app.url("/o/token/"))
        .header("origin", "https://spa.example")
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[("grant_type", "client_credentials")]);
    let answer = read(request.send().await.unwrap()).await;
    answer.assert_token();
    answer
}

async fn cors_answers_only_configured_origins(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.oauth2.allowed_origins = vec!["https://spa.example".into()]).await;
    let preflight = |app: &TestApp, origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/o/token/"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = read(preflight(&app, "https://spa.example").await.unwrap()).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://spa.example"));
    let other = read(preflight(&app, "https://evil.example").await.unwrap()).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let answer = token_from_spa(&app).await;
    assert_eq!(answer.header("access-control-allow-origin"), Some("https://spa.example"));

    // With no origin configured (the default) no origin is allowed: the preflight is
    // refused and a cross-origin answer carries no permission to read it.
    let closed = TestApp::spawn_with(backend, |_| {}).await;
    let refused = read(preflight(&closed, "https://spa.example").await.unwrap()).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let answer = token_from_spa(&closed).await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
}

/// A confidential client of the password and client-credentials grants whose pages are
/// served from `origins`.
async fn client_with_origins(app: &TestApp, name: &str, origins: &[&str]) -> Client {
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let secret = portcullis::crypto::Secret::generate();
    let fields = portcullis::store::ApplicationSettings {
        name: name.into(),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::Password, GrantType::ClientCredentials],
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        allowed_scopes: None,
        skip_authorization: false,
        algorithm: portcullis::proto::SigningAlgorithm::Rs256,
        access_token_format: portcullis::proto::AccessTokenFormat::Opaque,
        resource_server_uris: vec![],
    };
    app.store.create_application(&client_id, Some(&secret.hash()), None, &fields, app.clock_now()).await.unwrap();
    Client { client_id, secret: Some(secret.expose().to_owned()) }
}

/// A CORS preflight (Fetch, "CORS-preflight request") for a POST to `path` from `origin`.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> crate::helpers::Answer {
    let request = app
        .http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "authorization, content-type");
    read(request.send().await.unwrap()).await
}

/// Each application's registered `allowed_origins` may call the browser-facing endpoints
/// (token, revocation and UserInfo, which OpenID Connect Core §5.3 has browsers call
/// too), as django-oauth-toolkit honours them: the preflight, which names no client,
/// passes for an origin some application registered; the answer itself is readable
/// only from an origin of the client it is for.
async fn cors_follows_each_applications_allowed_origins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let spa = client_with_origins(&app, "Photo SPA", &["https://spa.example"]).await;
    let other = client_with_origins(&app, "Other SPA", &["https://other.example"]).await;
    let allowed = |answer: &crate::helpers::Answer| answer.header("access-control-allow-origin").map(str::to_owned);

    // Preflights: an origin some application registered is allowed, any other is not.
    for path in ["/o/token/", "/o/revoke_token/"] {
        let answer = preflight(&app, path, "https://spa.example", "POST").await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"), "{path}");
        let methods = answer.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase();
        assert!(methods.contains("POST"), "{path}: {methods}");
        let headers = answer.header("access-control-allow-headers").unwrap_or_default().to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"), "{path}: {headers}");
        let stranger = preflight(&app, path, "https://evil.example", "POST").await;
        assert_eq!(allowed(&stranger), None, "{path}");
    }
    let answer = preflight(&app, "/o/userinfo/", "https://spa.example", "GET").await;
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"));
    assert!(answer.header("access-control-allow-methods").unwrap_or_default().to_ascii_uppercase().contains("GET"));

    // The token answer: readable from the client's own origin, errors included, and not
    // from another application's origin nor from anywhere else.
    let token_request = |client: &Client, origin: &str, form: &[(&str, &str)]| {
        app.http
            .post(app.url("/o/token/"))
            .header("origin", origin)
            .basic_auth(&client.client_id, client.secret.as_deref())
            .form(form)
            .send()
    };
    let password = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD), ("scope", "openid")];
    let answer = read(token_request(&spa, "https://spa.example", &password).await.unwrap()).await;
    let tokens = answer.assert_token();
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"));
    assert!(answer.header("vary").unwrap_or_default().to_ascii_lowercase().contains("origin"));
    let wrong = [("grant_type", "password"), ("username", "alice"), ("password", "wrong password")];
    let answer = read(token_request(&spa, "https://spa.example", &wrong).await.unwrap()).await;
    answer.assert_error(400, "invalid_grant");
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"), "the client may read its errors");
    for origin in ["https://other.example", "https://evil.example"] {
        let answer = read(token_request(&spa, origin, &[("grant_type", "client_credentials")]).await.unwrap()).await;
        answer.assert_token();
        assert_eq!(allowed(&answer), None, "{origin} may not read the SPA's tokens");
    }
    let answer =
        read(token_request(&other, "https://other.example", &[("grant_type", "client_credentials")]).await.unwrap())
            .await;
    assert_eq!(allowed(&answer).as_deref(), Some("https://other.example"));
    // Without an Origin (not a cross-origin browser request), no CORS headers at all.
    let plain = app.post_form("/o/token/", Some(&spa), &[("grant_type", "client_credentials")]).await;
    assert_eq!(allowed(&plain), None);

    // UserInfo, for a token of the SPA's.
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = |origin: &'static str| {
        app.http.get(app.url("/o/userinfo/")).header("origin", origin).bearer_auth(access).send()
    };
    let answer = read(userinfo("https://spa.example").await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"));
    let answer = read(userinfo("https://other.example").await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(allowed(&answer), None, "another application's origin may not read the SPA's user");

    // Revocation (RFC 7009), from the SPA's origin.
    let revoke = |origin: &'static str| {
        app.http
            .post(app.url("/o/revoke_token/"))
            .header("origin", origin)
            .basic_auth(&spa.client_id, spa.secret.as_deref())
            .form(&[("token", access)])
            .send()
    };
    let answer = read(revoke("https://evil.example").await.unwrap()).await;
    assert_eq!((answer.status, allowed(&answer)), (StatusCode::OK, None));
    let answer = read(revoke("https://spa.example").await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"));
    // A revoked token's UserInfo error is readable by the SPA, which must learn of it.
    let answer = read(userinfo("https://spa.example").await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(allowed(&answer).as_deref(), Some("https://spa.example"));
}
