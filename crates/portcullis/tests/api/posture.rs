//! What OAuth 2.1 and the Model Context Protocol expect of the authorization endpoint:
//! the issuer in every authorization response (RFC 9207), loopback redirects on any
//! port (RFC 8252 §7.3), the RFC 9700 switches, and a consent page that says where the
//! answer goes.

use std::borrow::Cow;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, JsonWebKeySet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, TokenUrl,
};
use portcullis::proto::{ClientType, GrantType};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::applications::{register, staff_logged_in, unescape};
use crate::authorize::{answer_consent, authorize_url, logged_in, param, pkce, register_signing_with};
use crate::helpers::{Answer, Backend, Browser, Client, TestApp, PASSWORD};

pub fn cases() -> Vec<(&'static str, crate::Case)> {
    crate::cases![
        metadata_says_authorization_responses_carry_iss,
        iss_on_success_in_the_query_and_in_the_fragment,
        iss_on_every_error_redirect_and_never_on_the_error_page,
        loopback_redirect_uris_match_on_any_port,
        localhost_matches_on_any_port_only_when_allowed,
        implicit_grant_switch,
        password_grant_switch,
        pkce_method_switch,
        redirect_uri_scheme_switch_at_the_authorization_endpoint,
        redirect_uri_scheme_switch_when_an_application_is_saved,
        consent_page_names_the_host_and_warns_when_only_loopback,
    ]
}

const HTTPS: &str = "https://client.example/cb";

/// RFC 9207 §3's metadata member, read the way a relying party built on the
/// `openidconnect` crate reads metadata it does not know natively.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IssParameter {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for IssParameter {}

type Metadata = ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The RFC 8414 document (at the path RFC 8414 §3.1 derives from the issuer `…/o`) and
/// the OpenID Connect Discovery one.
const METADATA: [&str; 2] = ["/.well-known/oauth-authorization-server/o", "/o/.well-known/openid-configuration"];

async fn metadata_json(app: &TestApp, path: &str) -> serde_json::Value {
    let answer = crate::helpers::read(app.http.get(app.url(path)).send().await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text);
    answer.json()
}

/// The issuer identifier the server publishes, which `iss` must equal (RFC 9207 §2.3).
async fn published_issuer(app: &TestApp) -> String {
    metadata_json(app, METADATA[0]).await["issuer"].as_str().unwrap().to_owned()
}

/// `member` of both metadata documents, as strings.
async fn supported(app: &TestApp, member: &str) -> [Vec<String>; 2] {
    let mut lists = [Vec::new(), Vec::new()];
    for (list, path) in lists.iter_mut().zip(METADATA) {
        let doc = metadata_json(app, path).await;
        let values = doc[member].as_array().unwrap_or_else(|| panic!("{path}: no {member}"));
        *list = values.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    }
    lists
}

/// Asserts that both documents list `value` under `member`, or that neither does.
#[track_caller]
fn assert_listed(lists: &[Vec<String>; 2], value: &str, listed: bool) {
    for (list, path) in lists.iter().zip(METADATA) {
        assert_eq!(list.iter().any(|v| v == value), listed, "{path}: {value} in {list:?}");
    }
}

/// The parameters of an authorization response at `location`, from the fragment when
/// `in_fragment`, else from the query; asserts that none is in the other part, and that
/// `iss` is there once, equal to `issuer`. RFC 9207 §2.4: clients "MUST then decode the
/// value from its "application/x-www-form-urlencoded" form according to Appendix B of
/// [RFC6749] and compare the result to the issuer identifier of the authorization
/// server where the authorization request was sent to."
#[track_caller]
fn answer_with_iss(location: &str, issuer: &str, in_fragment: bool) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap_or_else(|e| panic!("{location}: {e}"));
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let fragment: Vec<(String, String)> =
        form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes()).into_owned().collect();
    let (answer, other) = if in_fragment { (fragment, query) } else { (query, fragment) };
    assert!(other.iter().all(|(k, _)| k != "iss" && k != "code" && k != "error"), "{location}");
    let iss: Vec<&str> = answer.iter().filter(|(k, _)| k == "iss").map(|(_, v)| v.as_str()).collect();
    assert_eq!(iss, [issuer], "RFC 9207 §2: iss in {location}");
    answer
}

/// Asserts an error redirect of `code` with `iss`, and returns its parameters.
#[track_caller]
fn error_with_iss(answer: &Answer, issuer: &str, in_fragment: bool, code: &str) -> Vec<(String, String)> {
    let location = answer.location();
    let pairs = answer_with_iss(&location, issuer, in_fragment);
    assert_eq!(param(&pairs, "error").as_deref(), Some(code), "{location}");
    pairs
}

/// "Photo Printer", confidential, for `grants`, at `redirect_uris`.
async fn printer(app: &TestApp, redirect_uris: &[&str], grants: &[GrantType], skip: bool) -> Client {
    register_signing_with(app, ClientType::Confidential, redirect_uris, grants, skip, "RS256").await
}

/// A relying party built on the `openidconnect` crate, its endpoints given by hand:
/// the test server's issuer names another port than the one it listens on.
fn relying_party(
    app: &TestApp,
    client: &Client,
    issuer: &str,
    redirect_uri: &str,
) -> CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet> {
    let id = ClientId::new(client.client_id.clone());
    CoreClient::new(id, IssuerUrl::new(issuer.into()).unwrap(), JsonWebKeySet::default())
        .set_client_secret(ClientSecret::new(client.secret.clone().unwrap()))
        .set_auth_uri(AuthUrl::new(app.url("/o/authorize/")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/o/token/")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).unwrap())
}

async fn metadata_says_authorization_responses_carry_iss(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = reqwest::Client::new();
    for path in METADATA {
        let doc: Metadata = http.get(app.url(path)).send().await.unwrap().json().await.unwrap();
        // RFC 9207 §2.3: "The server MUST indicate its support for the iss parameter by
        // setting the metadata parameter authorization_response_iss_parameter_supported,
        // defined in Section 3, to true."
        assert!(doc.additional_metadata().authorization_response_iss_parameter_supported, "{path}");
        assert_eq!(doc.issuer().as_str(), "http://127.0.0.1:8000/o", "{path}");
    }
    // Without OpenID Connect, the RFC 8414 document says it all the same.
    let plain = TestApp::spawn_with(backend, |c| c.oidc.enabled = false).await;
    let doc = metadata_json(&plain, METADATA[0]).await;
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["issuer"], "http://127.0.0.1:8000/o");
}

async fn iss_on_success_in_the_query_and_in_the_fragment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = published_issuer(&app).await;
    let grants = [GrantType::AuthorizationCode, GrantType::Implicit, GrantType::OpenidHybrid];
    let client = printer(&app, &[HTTPS], &grants, false).await;
    let browser = logged_in(&app).await;

    // The code flow, driven by the `openidconnect` crate: `iss` in the query, then the
    // code exchanged.
    let rp = relying_party(&app, &client, &issuer, HTTPS);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, _nonce) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let answer = answer_consent(&browser, url.as_str(), "allow").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let pairs = answer_with_iss(&answer.location(), &issuer, false);
    assert_eq!(param(&pairs, "state").as_deref(), Some(state.secret().as_str()));
    let code = param(&pairs, "code").unwrap();
    let tokens =
        rp.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier).request_async(&app.http).await;
    assert!(tokens.unwrap().access_token().secret().len() >= 32);

    // The implicit grant: `iss` in the fragment, with the access token.
    let url = authorize_url(&client, &[("response_type", "token"), ("redirect_uri", HTTPS), ("state", "t")]);
    let pairs = answer_with_iss(&answer_consent(&browser, &url, "allow").await.location(), &issuer, true);
    assert!(param(&pairs, "access_token").is_some() && param(&pairs, "state").as_deref() == Some("t"));

    // The hybrid flow: fragment too.
    let p = pkce();
    let url = authorize_url(
        &client,
        &[
            ("response_type", "code id_token"),
            ("redirect_uri", HTTPS),
            ("scope", "openid"),
            ("nonce", "n-1"),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let pairs = answer_with_iss(&answer_consent(&browser, &url, "allow").await.location(), &issuer, true);
    assert!(param(&pairs, "code").is_some() && param(&pairs, "id_token").is_some());

    // An application that skips the consent page is answered at once, with `iss`.
    let trusted = printer(&app, &[HTTPS], &grants, true).await;
    let p = pkce();
    let url = authorize_url(
        &trusted,
        &[("response_type", "code"), ("code_challenge", &p.challenge), ("code_challenge_method", "S256")],
    );
    let answer = browser.get(&url).await;
    assert_eq!(answer.status, StatusCode::FOUND);
    assert!(param(&answer_with_iss(&answer.location(), &issuer, false), "code").is_some());
}

/// An authorization request's parameters.
type Params<'a> = Vec<(&'a str, &'a str)>;

/// A code request with `state` and `extra`.
fn code<'a>(extra: &[(&'a str, &'a str)]) -> Params<'a> {
    [&[("response_type", "code"), ("state", "s")][..], extra].concat()
}

async fn iss_on_every_error_redirect_and_never_on_the_error_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = published_issuer(&app).await;
    let grants = [GrantType::AuthorizationCode, GrantType::Implicit];
    let client = printer(&app, &[HTTPS], &grants, false).await;
    let trusted = printer(&app, &[HTTPS], &grants, true).await;
    let p = pkce();
    let s256 = [("code_challenge", p.challenge.as_str()), ("code_challenge_method", "S256")];

    // Errors found in the request itself, before anyone logs in (RFC 6749 §4.1.2.1,
    // §4.2.2.1): in the query for `code`, in the fragment for `token`.
    let anonymous = Browser::new(&app);
    // (the request's parameters, whether the answer is in the fragment, the error)
    let refused: Vec<(Params, bool, &str)> = vec![
        ([&code(&[("scope", "nope")])[..], &s256].concat(), false, "invalid_scope"),
        (code(&[]), false, "invalid_request"),
        (vec![("response_type", "magic"), ("state", "s")], false, "unsupported_response_type"),
        (vec![("state", "s")], false, "invalid_request"),
        (vec![("response_type", "token"), ("scope", "nope"), ("state", "s")], true, "invalid_scope"),
        ([&code(&[("prompt", "sometimes")])[..], &s256].concat(), false, "invalid_request"),
    ];
    for (params, in_fragment, error) in &refused {
        let answer = anonymous.get(&authorize_url(&client, params)).await;
        assert_eq!(answer.status, StatusCode::FOUND, "{params:?}");
        let pairs = error_with_iss(&answer, &issuer, *in_fragment, error);
        assert_eq!(param(&pairs, "state").as_deref(), Some("s"), "{params:?}");
    }

    // Errors decided once the session is known (OpenID Connect Core §3.1.2.6).
    let none = [&code(&[("prompt", "none")])[..], &s256].concat();
    error_with_iss(&anonymous.get(&authorize_url(&client, &none)).await, &issuer, false, "login_required");
    let alice = logged_in(&app).await;
    error_with_iss(&alice.get(&authorize_url(&client, &none)).await, &issuer, false, "consent_required");
    let forged = [&code(&[("id_token_hint", "not.a.token")])[..], &s256].concat();
    error_with_iss(&alice.get(&authorize_url(&client, &forged)).await, &issuer, false, "invalid_request");
    // An ID token of bob's, whom the session is not.
    app.user("bob").await;
    let bob = Browser::new(&app);
    bob.login("bob", PASSWORD).await;
    let url = authorize_url(&trusted, &[("response_type", "id_token"), ("scope", "openid"), ("nonce", "n")]);
    let pairs = answer_with_iss(&bob.get(&url).await.location(), &issuer, true);
    let bobs = param(&pairs, "id_token").unwrap();
    let hinted = [&code(&[("id_token_hint", bobs.as_str())])[..], &s256].concat();
    error_with_iss(&alice.get(&authorize_url(&trusted, &hinted)).await, &issuer, false, "login_required");

    // From the consent form: the user says no, or the form comes back altered.
    let full = [&code(&[("redirect_uri", HTTPS)])[..], &s256].concat();
    let denied = answer_consent(&alice, &authorize_url(&client, &full), "cancel").await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    error_with_iss(&denied, &issuer, false, "access_denied");
    let page = alice.get(&authorize_url(&client, &full)).await;
    let token = crate::helpers::csrf_token(&page.text);
    let altered = alice
        .post(
            "/o/authorize/",
            &[
                ("csrf_token", token.as_str()),
                ("client_id", client.client_id.as_str()),
                ("response_type", "token"),
                ("scope", "nope"),
                ("state", "s"),
                ("allow", "Authorize"),
            ],
        )
        .await;
    error_with_iss(&altered, &issuer, true, "invalid_scope");

    // RFC 6749 §4.1.2.1: an unknown client or an unregistered redirect URI is shown an
    // error page, never redirected, so there is no response to carry `iss`.
    let unknown = Client { client_id: "nobody".into(), secret: None };
    for url in [
        authorize_url(&unknown, &code(&[])),
        authorize_url(&client, &code(&[("redirect_uri", "https://evil.example/cb")])),
    ] {
        let page = alice.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(page.header("location").is_none(), "{url}");
    }
}

/// One code, authorized by alice's `browser` for `client` at `redirect_uri` (which the
/// request names) and answered there with `iss`; and the verifier that goes with it.
async fn code_at(browser: &Browser, client: &Client, redirect_uri: &str, issuer: &str) -> (String, String) {
    let p = pkce();
    let url = authorize_url(
        client,
        &[
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("code_challenge", &p.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = answer_consent(browser, &url, "allow").await.location();
    assert!(location.starts_with(&format!("{redirect_uri}?")), "{location} is not at {redirect_uri}");
    (param(&answer_with_iss(&location, issuer, false), "code").unwrap(), p.verifier)
}

async fn loopback_redirect_uris_match_on_any_port(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = published_issuer(&app).await;
    let grants = [GrantType::AuthorizationCode];
    let native = printer(&app, &["http://127.0.0.1/cb", "http://[::1]:8080/cb"], &grants, false).await;
    let browser = logged_in(&app).await;

    // RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at
    // the time of the request for loopback IP redirect URIs". The `openidconnect`
    // client sends the port it listens on, and repeats it at the token endpoint.
    let on_port = "http://127.0.0.1:51004/cb";
    let rp = relying_party(&app, &native, &issuer, on_port);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, _) = rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let location = answer_consent(&browser, url.as_str(), "allow").await.location();
    assert!(location.starts_with("http://127.0.0.1:51004/cb?"), "the answer goes to the port asked: {location}");
    let code = param(&answer_with_iss(&location, &issuer, false), "code").unwrap();
    let tokens =
        rp.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier).request_async(&app.http).await;
    assert!(tokens.is_ok(), "{tokens:?}");

    // RFC 6749 §4.1.3: the token request's redirect_uri must be "identical" to the
    // authorization request's, port included: another port, or the registered URI
    // without one, is invalid_grant.
    for other in ["http://127.0.0.1:51005/cb", "http://127.0.0.1/cb"] {
        let (code, verifier) = code_at(&browser, &native, on_port, &issuer).await;
        let refused = rp
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .set_redirect_uri(Cow::Owned(RedirectUrl::new(other.into()).unwrap()))
            .request_async(&app.http)
            .await;
        match refused {
            Err(RequestTokenError::ServerResponse(e)) => assert_eq!(e.error().as_ref(), "invalid_grant", "{other}"),
            unexpected => panic!("{other}: {unexpected:?}"),
        }
    }

    // IPv6, and the registered port itself.
    for uri in ["http://[::1]:61023/cb", "http://[::1]:8080/cb", "http://[::1]/cb"] {
        let (code, verifier) = code_at(&browser, &native, uri, &issuer).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", uri),
            ("code_verifier", verifier.as_str()),
        ];
        app.token(&native, &form).await.assert_token();
    }

    // Everything else is still an exact match: another host, path or scheme on
    // loopback, and any port of a host that is not loopback, get the error page.
    let web = printer(&app, &[HTTPS, "http://192.168.1.2/cb"], &grants, false).await;
    for (client, uri) in [
        (&native, "http://127.0.0.1:51004/other"),
        (&native, "http://127.0.0.1:51004/cb?x=1"),
        (&native, "https://127.0.0.1:51004/cb"),
        (&native, "http://[::1]:51004/cb/"),
        (&native, "http://127.0.0.2:51004/cb"),
        (&native, "http://localhost:51004/cb"),
        (&native, "http://user@127.0.0.1:51004/cb"),
        (&web, "https://client.example:8443/cb"),
        (&web, "http://192.168.1.2:8080/cb"),
    ] {
        let p = pkce();
        let url = authorize_url(
            client,
            &[
                ("response_type", "code"),
                ("redirect_uri", uri),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let page = browser.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}: {}", page.text);
        assert!(page.header("location").is_none(), "{uri}");
    }
}

async fn localhost_matches_on_any_port_only_when_allowed(backend: Backend) {
    for allowed in [false, true] {
        let app = TestApp::spawn_with(backend, |c| c.oauth2.allow_localhost_loopback = allowed).await;
        let issuer = published_issuer(&app).await;
        let client = printer(&app, &["http://localhost/cb"], &[GrantType::AuthorizationCode], false).await;
        let browser = logged_in(&app).await;
        let p = pkce();
        let url = authorize_url(
            &client,
            &[
                ("response_type", "code"),
                ("redirect_uri", "http://localhost:5173/cb"),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        if allowed {
            let (code, verifier) = code_at(&browser, &client, "http://localhost:5173/cb", &issuer).await;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://localhost:5173/cb"),
                ("code_verifier", verifier.as_str()),
            ];
            app.token(&client, &form).await.assert_token();
        } else {
            // RFC 8252 §8.3: "the use of localhost is NOT RECOMMENDED"; by default it is
            // matched exactly.
            let page = browser.get(&url).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
            assert!(page.header("location").is_none());
        }
    }
}

/// Each switch, off then on, over `check(app, on)`.
async fn each_way<F, Fut>(backend: Backend, set: fn(&mut portcullis::config::Config), check: F)
where
    F: Fn(TestApp, bool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(TestApp::spawn(backend).await, false).await;
    check(TestApp::spawn_with(backend, set).await, true).await;
}

async fn implicit_grant_switch(backend: Backend) {
    each_way(
        backend,
        |c| c.oauth2.compliant_bcp_rfc9700_implicit_grant = true,
        |app, on| async move {
            let issuer = published_issuer(&app).await;
            let grants = [GrantType::AuthorizationCode, GrantType::Implicit, GrantType::OpenidHybrid];
            let client = printer(&app, &[HTTPS], &grants, false).await;
            let browser = logged_in(&app).await;
            // RFC 9700 §2.1.2: "clients SHOULD NOT use the implicit grant (response type
            // "token") or other response types issuing access tokens in the authorization
            // response, such as "token id_token" and "code token id_token"".
            for response_type in ["token", "id_token token", "code token", "code id_token token"] {
                let p = pkce();
                let url = authorize_url(
                    &client,
                    &[
                        ("response_type", response_type),
                        ("scope", "openid"),
                        ("nonce", "n"),
                        ("state", "s"),
                        ("code_challenge", &p.challenge),
                        ("code_challenge_method", "S256"),
                    ],
                );
                let answer = browser.get(&url).await;
                if on {
                    let pairs = error_with_iss(&answer, &issuer, true, "unsupported_response_type");
                    assert_eq!(param(&pairs, "state").as_deref(), Some("s"));
                    assert!(param(&pairs, "error_description").unwrap().contains("RFC 9700 section 2.1.2"));
                } else {
                    assert_eq!(answer.status, StatusCode::OK, "{response_type}: the consent page");
                }
            }
            // What carries no access token is served either way.
            for response_type in ["code", "code id_token", "id_token"] {
                let p = pkce();
                let url = authorize_url(
                    &client,
                    &[
                        ("response_type", response_type),
                        ("scope", "openid"),
                        ("nonce", "n"),
                        ("code_challenge", &p.challenge),
                        ("code_challenge_method", "S256"),
                    ],
                );
                assert_eq!(browser.get(&url).await.status, StatusCode::OK, "{response_type}");
            }
            let response_types = supported(&app, "response_types_supported").await;
            for refused in ["token", "id_token token", "code token", "code id_token token"] {
                assert_listed(&response_types, refused, !on);
            }
            for served in ["code", "code id_token", "id_token"] {
                assert_listed(&response_types, served, true);
            }
            let grant_types = supported(&app, "grant_types_supported").await;
            assert_listed(&grant_types, "implicit", !on);
            assert_listed(&grant_types, "authorization_code", true);
        },
    )
    .await;
}

async fn password_grant_switch(backend: Backend) {
    each_way(
        backend,
        |c| c.oauth2.compliant_bcp_rfc9700_password_grant = true,
        |app, on| async move {
            app.user("alice").await;
            let client = app.confidential().await;
            let form = [("grant_type", "password"), ("username", "alice"), ("password", PASSWORD)];
            let answer = app.token(&client, &form).await;
            if on {
                // RFC 9700 §2.4: "The resource owner password credentials grant [RFC6749]
                // MUST NOT be used."; RFC 6749 §5.2 unsupported_grant_type: "The
                // authorization grant type is not supported by the authorization server."
                answer.assert_error(400, "unsupported_grant_type");
                assert!(answer.json()["error_description"].as_str().unwrap().contains("RFC 9700 section 2.4"));
            } else {
                answer.assert_token();
            }
            app.client_credentials(&client).await;
            let grant_types = supported(&app, "grant_types_supported").await;
            assert_listed(&grant_types, "password", !on);
            assert_listed(&grant_types, "client_credentials", true);
        },
    )
    .await;
}

async fn pkce_method_switch(backend: Backend) {
    each_way(
        backend,
        |c| c.oauth2.compliant_bcp_rfc9700_pkce_method = true,
        |app, on| async move {
            let issuer = published_issuer(&app).await;
            let client = printer(&app, &[HTTPS], &[GrantType::AuthorizationCode], false).await;
            let browser = logged_in(&app).await;
            let verifier = portcullis::crypto::random_string(48);
            // RFC 7636 §4.3: "code_challenge_method: OPTIONAL, defaults to "plain" if not
            // present in the request": named or not, it is plain.
            for method in [Some("plain"), None] {
                let mut params = vec![("response_type", "code"), ("state", "s"), ("code_challenge", verifier.as_str())];
                params.extend(method.map(|m| ("code_challenge_method", m)));
                let url = authorize_url(&client, &params);
                if on {
                    // RFC 9700 §2.1.1: "Clients SHOULD use PKCE code challenge methods that
                    // do not expose the PKCE verifier in the authorization request. [...]
                    // Currently, S256 is the only such method."
                    let pairs = error_with_iss(&browser.get(&url).await, &issuer, false, "invalid_request");
                    assert!(param(&pairs, "error_description").unwrap().contains("S256"));
                } else {
                    let location = answer_consent(&browser, &url, "allow").await.location();
                    let code = param(&answer_with_iss(&location, &issuer, false), "code").unwrap();
                    let form = [
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("code_verifier", verifier.as_str()),
                    ];
                    app.token(&client, &form).await.assert_token();
                }
            }
            let (code, verifier) = code_at(&browser, &client, HTTPS, &issuer).await;
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", HTTPS),
                ("code_verifier", verifier.as_str()),
            ];
            app.token(&client, &form).await.assert_token();
            let methods = supported(&app, "code_challenge_methods_supported").await;
            assert_listed(&methods, "plain", !on);
            assert_listed(&methods, "S256", true);
        },
    )
    .await;
}

async fn redirect_uri_scheme_switch_at_the_authorization_endpoint(backend: Backend) {
    each_way(
        backend,
        |c| c.oauth2.compliant_bcp_rfc9700_redirect_uri_scheme = true,
        |app, on| async move {
            // Registered before the switch was turned on.
            let grants = [GrantType::AuthorizationCode];
            let plain = printer(&app, &["http://app.example/cb"], &grants, false).await;
            let native = printer(&app, &["http://127.0.0.1/cb"], &grants, false).await;
            let web = printer(&app, &[HTTPS], &grants, false).await;
            let browser = logged_in(&app).await;
            let p = pkce();
            let request = |client: &Client, uri: Option<&str>| {
                let mut params = vec![
                    ("response_type", "code"),
                    ("code_challenge", p.challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ];
                params.extend(uri.map(|u| ("redirect_uri", u)));
                authorize_url(client, &params)
            };
            for uri in [Some("http://app.example/cb"), None] {
                let answer = browser.get(&request(&plain, uri)).await;
                if on {
                    // RFC 9700 §2.6: "authorization servers MUST NOT allow redirect URIs that
                    // use the "http" scheme except for native clients that use loopback
                    // interface redirection". The URI is not trusted: an error page, and
                    // nothing goes to it.
                    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri:?}: {}", answer.text);
                    assert!(answer.header("location").is_none());
                    assert!(unescape(&answer.text).contains("RFC 9700 §2.6"), "{}", answer.text);
                } else {
                    assert_eq!(answer.status, StatusCode::OK, "{uri:?}: the consent page");
                }
            }
            assert_eq!(browser.get(&request(&native, Some("http://127.0.0.1:40404/cb"))).await.status, StatusCode::OK);
            assert_eq!(browser.get(&request(&web, None)).await.status, StatusCode::OK);
        },
    )
    .await;
}

async fn redirect_uri_scheme_switch_when_an_application_is_saved(backend: Backend) {
    const SWITCH: &str = "PORTCULLIS_COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME";
    each_way(
        backend,
        |c| c.oauth2.compliant_bcp_rfc9700_redirect_uri_scheme = true,
        |app, on| async move {
            let form = |uri: &'static str| {
                vec![
                    ("name", "Desk app"),
                    ("client_type", "public"),
                    ("grant_type", "authorization-code"),
                    ("redirect_uris", uri),
                    ("algorithm", "RS256"),
                    ("access_token_format", "opaque"),
                ]
            };
            // The application pages.
            let browser = logged_in(&app).await;
            let answer = browser
                .submit("/o/applications/register/", "/o/applications/register/", &form("http://app.example/cb"))
                .await;
            if on {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
                let text = unescape(&answer.text);
                assert!(text.contains("uses plain http") && text.contains("RFC 9700 §2.6"), "{text}");
                assert!(answer.text.contains("id=\"redirect_uris-error\""));
            } else {
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            }
            let (loopback, _) = register(&app, &browser, &form("http://127.0.0.1:8080/cb")).await;
            let (web, _) = register(&app, &browser, &form(HTTPS)).await;

            // The admin pages, changing an application's redirect URIs.
            let staff = staff_logged_in(&app, "root").await;
            let page = format!("/admin/applications/{}/", web.id);
            let update = format!("/admin/applications/{}/update/", web.id);
            let fields = [
                ("name", "Desk app"),
                ("grant_type", "authorization-code"),
                ("redirect_uris", "http://app.example/cb"),
                ("algorithm", "RS256"),
                ("access_token_format", "opaque"),
            ];
            let answer = staff.submit(&page, &update, &fields).await;
            let stored = app.store.application_by_client_id(&web.client_id).await.unwrap().unwrap();
            if on {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
                assert!(unescape(&answer.text).contains("RFC 9700 §2.6"), "{}", answer.text);
                assert_eq!(stored.settings.redirect_uris, [HTTPS], "nothing saved");
            } else {
                assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
                assert_eq!(stored.settings.redirect_uris, ["http://app.example/cb"]);
            }
            assert_eq!(loopback.settings.redirect_uris, ["http://127.0.0.1:8080/cb"]);

            // The command line, with the switch from the environment.
            let env: &[(&str, &str)] = if on { &[(SWITCH, "true")] } else { &[] };
            let create = |uri: &'static str| {
                [
                    "app",
                    "create",
                    "--name",
                    "Desk app",
                    "--client-type",
                    "public",
                    "--grant-type",
                    "authorization-code",
                    "--redirect-uri",
                    uri,
                ]
            };
            let run = crate::cli::run(&app.db, &create("http://app.example/cb"), None, env).await;
            if on {
                run.assert_fails_with("RFC 9700 §2.6");
            } else {
                run.assert_ok();
            }
            crate::cli::run(&app.db, &create("http://[::1]/cb"), None, env).await.assert_ok();
        },
    )
    .await;
}

async fn consent_page_names_the_host_and_warns_when_only_loopback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants = [GrantType::AuthorizationCode];
    let native = printer(&app, &["http://127.0.0.1/cb", "http://[::1]/cb"], &grants, false).await;
    let mixed = printer(&app, &["http://127.0.0.1/cb", HTTPS], &grants, false).await;
    let browser = logged_in(&app).await;
    let page = |client: &Client, uri: &str| {
        let p = pkce();
        authorize_url(
            client,
            &[
                ("response_type", "code"),
                ("redirect_uri", uri),
                ("code_challenge", &p.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    };
    // Every registered URI on loopback: any local program could be the one listening.
    let shown = browser.get(&page(&native, "http://[::1]:49152/cb")).await;
    assert_eq!(shown.status, StatusCode::OK);
    let text = unescape(&shown.text);
    assert!(text.contains("you go back to <code>[::1]</code>"), "{text}");
    assert!(text.contains("id=\"loopback-warning\"") && text.contains("any program could be listening"), "{text}");
    // One of them elsewhere: the host of the URI in use, and no warning.
    for (uri, host) in [(HTTPS, "client.example"), ("http://127.0.0.1:49152/cb", "127.0.0.1")] {
        let text = unescape(&browser.get(&page(&mixed, uri)).await.text);
        assert!(text.contains(&format!("you go back to <code>{host}</code>")), "{text}");
        assert!(!text.contains("loopback-warning"), "{text}");
    }
}
