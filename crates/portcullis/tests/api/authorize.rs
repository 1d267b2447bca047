//! The authorization endpoint (RFC 6749 §4.1, §4.2; RFC 7636), login, and the
//! authorization code grant at the token endpoint.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis::proto::{ClientType, GrantType, SigningAlgorithm};
use portcullis::store::ApplicationSettings;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::{csrf_token, hidden_field, hidden_fields, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        code_flow_with_pkce_s256,
        code_flow_with_pkce_plain_and_a_public_client,
        anonymous_users_are_sent_to_log_in_and_back,
        untrusted_client_or_redirect_uri_is_a_page_never_a_redirect,
        other_errors_go_back_to_the_client_with_state,
        pkce_is_required_and_checked,
        cancel_is_access_denied,
        consent_form_needs_its_csrf_token,
        codes_are_single_use_and_replay_revokes,
        codes_expire_and_bind_to_client_and_redirect_uri,
        approval_prompt_auto_and_skip_authorization,
        implicit_grant_puts_the_token_in_the_fragment,
        login_next_must_be_local,
        login_throttling_by_account,
        session_cookie_flags_and_logout,
        templates_dir_overrides_a_page,
    ]
}

pub(crate) const REDIRECT: &str = "https://client.example/cb";

pub(crate) struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub(crate) fn pkce() -> Pkce {
    let verifier = portcullis::crypto::random_string(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

async fn code_client(app: &TestApp, client_type: ClientType, redirect_uris: &[&str], skip: bool) -> Client {
    register(app, client_type, redirect_uris, &[GrantType::AuthorizationCode, GrantType::Implicit], skip).await
}

async fn code_client_with(
    app: &TestApp,
    client_type: ClientType,
    redirect_uris: &[&str],
    grants: &[GrantType],
) -> Client {
    register(app, client_type, redirect_uris, grants, false).await
}

async fn register(
    app: &TestApp,
    client_type: ClientType,
    redirect_uris: &[&str],
    grants: &[GrantType],
    skip: bool,
) -> Client {
    register_signing_with(app, client_type, redirect_uris, grants, skip, "RS256").await
}

/// Registers "Photo Printer" with ID tokens signed with `algorithm`.
pub(crate) async fn register_signing_with(
    app: &TestApp,
    client_type: ClientType,
    redirect_uris: &[&str],
    grants: &[GrantType],
    skip: bool,
    algorithm: &str,
) -> Client {
    let secret = (client_type == ClientType::Confidential).then(portcullis::crypto::Secret::generate);
    let client_id = portcullis::crypto::random_alphanumeric(32);
    let settings = ApplicationSettings {
        name: "Photo Printer".into(),
        client_type,
        grant_types: grants.to_vec(),
        redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
        skip_authorization: skip,
        algorithm: SigningAlgorithm::parse(algorithm).unwrap(),
        ..ApplicationSettings::default()
    };
    let hash = secret.as_ref().map(|s| s.hash());
    app.store.create_application(&client_id, hash.as_ref(), None, &settings, app.clock_now()).await.unwrap();
    Client { client_id, secret: secret.map(|s| s.expose().to_owned()) }
}

pub(crate) fn authorize_url(client: &Client, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", &client.client_id);
    for (k, v) in extra {
        query.append_pair(k, v);
    }
    format!("/o/authorize/?{}", query.finish())
}

fn code_request<'a>(p: &'a Pkce, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "read write"),
        ("state", state),
        ("code_challenge", &p.challenge),
        ("code_challenge_method", "S256"),
    ]
}

/// The query parameters of a redirect location.
pub(crate) fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(crate) fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Shows the consent page for `url` and presses `button` (`allow` or `cancel`).
pub(crate) async fn answer_consent(browser: &Browser, url: &str, button: &str) -> crate::helpers::Answer {
    let page = browser.get(url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Authorize Photo Printer?"), "{}", page.text);
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "RFC 6749 §10.13: no framing of the consent page");
    assert!(page.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    let mut fields: Vec<(String, String)> = Vec::new();
    for name in [
        "client_id",
        "response_type",
        "scope",
        "redirect_uri",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    ] {
        if let Some(value) = hidden_field(&page.text, name) {
            fields.push((name.to_owned(), value));
        }
    }
    // RFC 8707 `resource` may repeat.
    fields.extend(hidden_fields(&page.text, "resource").into_iter().map(|value| ("resource".to_owned(), value)));
    fields.push(("csrf_token".into(), csrf_token(&page.text)));
    if button == "allow" {
        fields.push(("allow".into(), "Authorize".into()));
    } else {
        fields.push(("cancel".into(), "Cancel".into()));
    }
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    browser.post("/o/authorize/", &form).await
}

/// The scope alice has consented to give `client`, if any.
async fn consent_of(app: &TestApp, client: &Client) -> Option<String> {
    let user = app.store.user_by_username("alice").await.unwrap().unwrap();
    let registered = app.store.application_by_client_id(&client.client_id).await.unwrap().unwrap();
    app.store.consent(user.id, registered.id).await.unwrap().map(|c| c.scope)
}

pub(crate) async fn logged_in(app: &TestApp) -> Browser {
    app.user("alice").await;
    let browser = Browser::new(app);
    browser.login("alice", PASSWORD).await;
    browser
}

async fn code_flow_with_pkce_s256(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT, "https://client.example/other"], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let answer = answer_consent(&browser, &authorize_url(&client, &code_request(&p, "xyz 1")), "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.location();
    assert!(location.starts_with("https://client.example/cb?"), "{location}");
    let pairs = query_of(&location);
    // RFC 6749 §4.1.2: "state: REQUIRED if the "state" parameter was present in the
    // client authorization request. The exact value received from the client."
    assert_eq!(param(&pairs, "state").as_deref(), Some("xyz 1"));
    let code = param(&pairs, "code").unwrap();
    let tokens = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &p.verifier),
            ],
        )
        .await
        .assert_token();
    assert_eq!(tokens["scope"], "read write");
    assert!(tokens["refresh_token"].is_string());
    let me = app.get_with_token("/api/me/", tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me.json()["username"], "alice");
}

async fn code_flow_with_pkce_plain_and_a_public_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Public, &["http://127.0.0.1:9999/cb?keep=1"], false).await;
    let browser = logged_in(&app).await;
    let verifier = portcullis::crypto::random_string(40);
    let url = authorize_url(&client, &[("response_type", "code"), ("code_challenge", &verifier)]);
    let location = answer_consent(&browser, &url, "allow").await.location();
    // RFC 6749 §3.1.2: the registered query "MUST be retained when adding additional
    // query parameters".
    assert!(location.starts_with("http://127.0.0.1:9999/cb?keep=1&code="), "{location}");
    let code = param(&query_of(&location), "code").unwrap();
    // A public client sends client_id alone; the request named no redirect_uri, so the
    // token request need not either (RFC 6749 §4.1.3).
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client.client_id.as_str()),
        ("code", &code),
        ("code_verifier", &verifier),
    ];
    let tokens = app.post_form("/o/token/", None, &form).await.assert_token();
    assert_eq!(tokens["scope"], "read", "the default scope");
}

async fn anonymous_users_are_sent_to_log_in_and_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let p = pkce();
    let url = authorize_url(&client, &code_request(&p, "s"));
    let to_login = browser.get(&url).await.location();
    assert!(to_login.starts_with("/accounts/login/?next="), "{to_login}");
    let login_page = browser.get(&to_login).await;
    assert_eq!(hidden_field(&login_page.text, "next").as_deref(), Some(url.as_str()));
    let token = csrf_token(&login_page.text);
    let back = browser
        .post(
            "/accounts/login/",
            &[("username", "alice"), ("password", PASSWORD), ("csrf_token", &token), ("next", &url)],
        )
        .await;
    assert_eq!(back.location(), url);
    assert!(browser.get(&url).await.text.contains("Authorize Photo Printer?"));
}

async fn untrusted_client_or_redirect_uri_is_a_page_never_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let one = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let two = code_client(&app, ClientType::Confidential, &[REDIRECT, "https://client.example/2"], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let unknown = Client { client_id: "nope".into(), secret: None };
    let cases: Vec<(String, &str)> = vec![
        ("/o/authorize/?response_type=code".into(), "client_id is missing"),
        (authorize_url(&unknown, &[("response_type", "code"), ("redirect_uri", REDIRECT)]), "unknown client"),
        (
            authorize_url(&one, &[("response_type", "code"), ("redirect_uri", "https://evil.example/cb")]),
            "not registered",
        ),
        // Exact match: no prefix, no extra path, no different case, no added query.
        (
            authorize_url(&one, &[("response_type", "code"), ("redirect_uri", "https://client.example/cb/x")]),
            "not registered",
        ),
        (
            authorize_url(&one, &[("response_type", "code"), ("redirect_uri", "https://CLIENT.example/cb")]),
            "not registered",
        ),
        (
            authorize_url(&one, &[("response_type", "code"), ("redirect_uri", "https://client.example/cb?a=1")]),
            "not registered",
        ),
        (
            authorize_url(&one, &[("response_type", "code"), ("redirect_uri", "https://client.example/cb#f")]),
            "not registered",
        ),
        (authorize_url(&two, &[("response_type", "code"), ("code_challenge", &p.challenge)]), "must name one"),
        (format!("{}&client_id=again", authorize_url(&one, &[("response_type", "code")])), "repeated"),
    ];
    for (url, message) in cases {
        let answer = browser.get(&url).await;
        // RFC 6749 §4.1.2.1: "the authorization server SHOULD inform the resource owner
        // of the error and MUST NOT automatically redirect the user-agent".
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{url}: {}", answer.text);
        assert!(answer.header("location").is_none());
        assert!(answer.text.contains(message), "{url}: {message:?} not in {}", answer.text);
    }
}

async fn other_errors_go_back_to_the_client_with_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let challenge = ("code_challenge", p.challenge.as_str());
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("state", "st"), challenge], "invalid_request"),
        (vec![("state", "st"), challenge, ("response_type", "magic")], "unsupported_response_type"),
        (vec![("state", "st"), challenge, ("response_type", "code"), ("scope", "admin")], "invalid_scope"),
    ];
    for (query, error) in cases {
        let location = browser.get(&authorize_url(&client, &query)).await.location();
        let pairs = query_of(&location);
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(param(&pairs, "error").as_deref(), Some(error), "{location}");
        assert_eq!(param(&pairs, "state").as_deref(), Some("st"));
        assert!(param(&pairs, "code").is_none());
    }
    // A client not registered for the implicit grant: unauthorized_client, and the
    // implicit flow's errors travel in the fragment (RFC 6749 §4.2.2.1).
    let code_only = code_client_with(&app, ClientType::Public, &[REDIRECT], &[GrantType::AuthorizationCode]).await;
    let location =
        browser.get(&authorize_url(&code_only, &[("response_type", "token"), ("state", "st")])).await.location();
    assert!(location.starts_with(&format!("{REDIRECT}#error=unauthorized_client")), "{location}");
}

async fn pkce_is_required_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    // RFC 7636 §4.4.1: no challenge while the server requires PKCE: invalid_request.
    let location = browser.get(&authorize_url(&client, &[("response_type", "code")])).await.location();
    assert_eq!(param(&query_of(&location), "error").as_deref(), Some("invalid_request"));
    assert_eq!(param(&query_of(&location), "error_description").as_deref(), Some("code challenge required"));
    let p = pkce();
    let bad_method = authorize_url(
        &client,
        &[("response_type", "code"), ("code_challenge", &p.challenge), ("code_challenge_method", "S512")],
    );
    let location = browser.get(&bad_method).await.location();
    assert_eq!(param(&query_of(&location), "error_description").as_deref(), Some("transform algorithm not supported"));
    let short = authorize_url(&client, &[("response_type", "code"), ("code_challenge", "tooshort")]);
    assert_eq!(param(&query_of(&browser.get(&short).await.location()), "error").as_deref(), Some("invalid_request"));

    // A wrong verifier: invalid_grant (RFC 7636 §4.6), and the code survives for the
    // right one.
    let location = answer_consent(&browser, &authorize_url(&client, &code_request(&p, "s")), "allow").await.location();
    let code = param(&query_of(&location), "code").unwrap();
    let exchange = |verifier: Option<&str>| {
        let mut form = vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let form: Vec<(String, String)> = form.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())).collect();
        let client = client.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            app.token(&client, &form).await
        }
    };
    exchange(Some(&pkce().verifier)).await.assert_error(400, "invalid_grant");
    exchange(None).await.assert_error(400, "invalid_request");
    exchange(Some(&p.verifier)).await.assert_token();

    // With PKCE optional, a code without a challenge refuses a verifier (downgrade).
    let lax = TestApp::spawn_with(backend, |c| c.oauth2.pkce_required = false).await;
    let client = code_client(&lax, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&lax).await;
    let url = authorize_url(&client, &[("response_type", "code")]);
    let code = param(&query_of(&answer_consent(&browser, &url, "allow").await.location()), "code").unwrap();
    lax.token(&client, &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", &p.verifier)])
        .await
        .assert_error(400, "invalid_grant");
}

async fn cancel_is_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let answer = answer_consent(&browser, &authorize_url(&client, &code_request(&p, "st")), "cancel").await;
    let pairs = query_of(&answer.location());
    assert_eq!(param(&pairs, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&pairs, "state").as_deref(), Some("st"));
    assert!(param(&pairs, "code").is_none());
    assert_eq!(consent_of(&app, &client).await, None, "no consent remembered");
}

async fn consent_form_needs_its_csrf_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let mut form = code_request(&p, "st");
    form.push(("client_id", &client.client_id));
    form.push(("allow", "Authorize"));
    let forged = browser.post("/o/authorize/", &form).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.header("location").is_none());
    form.push(("csrf_token", "guessed-token"));
    assert_eq!(browser.post("/o/authorize/", &form).await.status, StatusCode::FORBIDDEN);
    // Another browser's valid token is not this one's.
    let other = Browser::new(&app);
    let other_token = csrf_token(&other.get("/accounts/login/").await.text);
    form.pop();
    form.push(("csrf_token", &other_token));
    assert_eq!(browser.post("/o/authorize/", &form).await.status, StatusCode::FORBIDDEN);
    assert_eq!(consent_of(&app, &client).await, None);
    // The same request with the page's own token goes through: the refusals above were
    // the token's doing, and the lookup above would have seen a consent.
    answer_consent(&browser, &authorize_url(&client, &code_request(&p, "st")), "allow").await.location();
    assert_eq!(consent_of(&app, &client).await.as_deref(), Some("read write"));
}

async fn codes_are_single_use_and_replay_revokes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let location = answer_consent(&browser, &authorize_url(&client, &code_request(&p, "s")), "allow").await.location();
    let code = param(&query_of(&location), "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &p.verifier),
    ];
    let first = app.token(&client, &form).await.assert_token();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::OK);
    // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
    // authorization server MUST deny the request and SHOULD revoke (when possible) all
    // tokens previously issued based on that authorization code."
    app.token(&client, &form).await.assert_error(400, "invalid_grant");
    assert_eq!(app.status_with_token("/api/me/", access).await, StatusCode::UNAUTHORIZED);
    let rt = first["refresh_token"].as_str().unwrap();
    app.token(&client, &[("grant_type", "refresh_token"), ("refresh_token", rt)])
        .await
        .assert_error(400, "invalid_grant");
}

async fn codes_expire_and_bind_to_client_and_redirect_uri(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT, "https://client.example/2"], false).await;
    let thief = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let get_code = || async {
        let location =
            answer_consent(&browser, &authorize_url(&client, &code_request(&p, "s")), "allow").await.location();
        param(&query_of(&location), "code").unwrap()
    };
    let code = get_code().await;
    let with = |redirect: Option<&'static str>| {
        let mut form =
            vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("code_verifier", p.verifier.as_str())];
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        form
    };
    // "ensure that the authorization code was issued to the authenticated confidential client"
    app.token(&thief, &with(Some(REDIRECT))).await.assert_error(400, "invalid_grant");
    // "ensure that the "redirect_uri" parameter is present if [it] was included in the
    // initial authorization request … and if included ensure that their values are identical."
    app.token(&client, &with(None)).await.assert_error(400, "invalid_grant");
    app.token(&client, &with(Some("https://client.example/2"))).await.assert_error(400, "invalid_grant");
    app.token(&client, &with(Some(REDIRECT))).await.assert_token();

    // authorization_code_expire_seconds (60 by default), on the controlled clock.
    let code = get_code().await;
    app.clock.advance(60);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    app.token(&client, &form).await.assert_error(400, "invalid_grant");
}

async fn approval_prompt_auto_and_skip_authorization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let p = pkce();
    let mut auto = code_request(&p, "s");
    auto.push(("approval_prompt", "auto"));
    // First time: asked.
    assert_eq!(browser.get(&authorize_url(&client, &auto)).await.status, StatusCode::OK);
    answer_consent(&browser, &authorize_url(&client, &code_request(&p, "s")), "allow").await;
    // Consent covers the scopes: straight back with a code.
    let location = browser.get(&authorize_url(&client, &auto)).await.location();
    assert!(param(&query_of(&location), "code").is_some(), "{location}");
    // A wider scope asks again; without approval_prompt=auto, always asked (the default "force").
    let mut wider = auto.clone();
    wider.retain(|(k, _)| *k != "scope");
    wider.push(("scope", "read write groups"));
    assert_eq!(browser.get(&authorize_url(&client, &wider)).await.status, StatusCode::OK);
    assert_eq!(browser.get(&authorize_url(&client, &code_request(&p, "s"))).await.status, StatusCode::OK);

    let trusted = code_client(&app, ClientType::Confidential, &[REDIRECT], true).await;
    let location = browser.get(&authorize_url(&trusted, &code_request(&p, "s"))).await.location();
    assert!(param(&query_of(&location), "code").is_some(), "skip_authorization goes straight through");
}

async fn implicit_grant_puts_the_token_in_the_fragment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = code_client(&app, ClientType::Public, &[REDIRECT], false).await;
    let browser = logged_in(&app).await;
    let url = authorize_url(&client, &[("response_type", "token"), ("state", "abc"), ("scope", "read")]);
    let location = answer_consent(&browser, &url, "allow").await.location();
    let (before, fragment) = location.split_once('#').unwrap();
    assert_eq!(before, REDIRECT);
    let pairs: Vec<(String, String)> = form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    assert_eq!(param(&pairs, "token_type").as_deref(), Some("Bearer"));
    assert_eq!(param(&pairs, "state").as_deref(), Some("abc"));
    assert_eq!(param(&pairs, "expires_in").as_deref(), Some("36000"));
    // RFC 6749 §4.2.2: "The authorization server MUST NOT issue a refresh token."
    assert!(param(&pairs, "refresh_token").is_none());
    let access = param(&pairs, "access_token").unwrap();
    assert_eq!(app.status_with_token("/api/me/", &access).await, StatusCode::OK);
}

async fn login_next_must_be_local(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    for next in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        let browser = Browser::new(&app);
        let page = browser
            .get(&format!(
                "/accounts/login/?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(hidden_field(&page.text, "next").as_deref(), Some("/o/applications/"), "{next}");
        let token = csrf_token(&page.text);
        let answer = browser
            .post(
                "/accounts/login/",
                &[("username", "alice"), ("password", PASSWORD), ("csrf_token", &token), ("next", next)],
            )
            .await;
        assert_eq!(answer.location(), "/o/applications/", "{next}");
    }
}

async fn login_throttling_by_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    for _ in 0..5 {
        let answer = browser
            .submit("/accounts/login/", "/accounts/login/", &[("username", "alice"), ("password", "wrong")])
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.text.contains("correct username and password"));
    }
    let blocked =
        browser.submit("/accounts/login/", "/accounts/login/", &[("username", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.header("retry-after").is_some());
    app.clock.advance(15 * 60 + 1);
    browser.login("alice", PASSWORD).await;
}

async fn session_cookie_flags_and_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let page = browser.get("/accounts/login/").await;
    let cookie = page.header("set-cookie").unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    let token = csrf_token(&page.text);
    let login = browser
        .post("/accounts/login/", &[("username", "alice"), ("password", PASSWORD), ("csrf_token", &token)])
        .await;
    let session = login.header("set-cookie").unwrap().to_owned();
    assert_ne!(session.split(';').next(), cookie.split(';').next(), "a new session id at login");
    // Logging out needs the CSRF token too.
    assert_eq!(browser.post("/accounts/logout/", &[]).await.status, StatusCode::FORBIDDEN);
    let p = pkce();
    let client = code_client(&app, ClientType::Confidential, &[REDIRECT], false).await;
    let consent = browser.get(&authorize_url(&client, &code_request(&p, "s"))).await;
    let out = browser.post("/accounts/logout/", &[("csrf_token", &csrf_token(&consent.text))]).await;
    assert_eq!(out.location(), "/accounts/login/");
    let again = browser.get(&authorize_url(&client, &code_request(&p, "s"))).await;
    assert!(again.location().starts_with("/accounts/login/"), "logged out");

    let https = TestApp::spawn_with(backend, |c| c.oidc.issuer = "https://login.example/o".into()).await;
    let cookie = Browser::new(&https).get("/accounts/login/").await.header("set-cookie").unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
}

async fn templates_dir_overrides_a_page(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("login.html"),
        "{% extends \"base.html\" %}{% block content %}<h1>ACME sign-in</h1>\
         <input name=\"csrf_token\" value=\"{{ csrf_token }}\">{% endblock %}",
    )
    .unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let app = TestApp::spawn_with(backend, move |c| c.pages.templates_dir = path).await;
    let page = Browser::new(&app).get("/accounts/login/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<h1>ACME sign-in</h1>"), "{}", page.text);
    assert!(page.text.contains("/static/portcullis.css"), "the built-in base still applies");
    assert!(!csrf_token(&page.text).is_empty());
}
