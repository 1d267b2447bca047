use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use crate::bearer::{self, Presented};
use crate::error::{AuthError, AuthErrorKind};
use crate::{ScopePolicy, TokenInfo, TokenVerifier};

/// A request that carries a valid bearer token, whatever its scopes:
/// django-oauth-toolkit's `ProtectedResourceView`. A request without one never
/// reaches the handler; it gets the [`AuthError`] answer instead.
///
/// ```
/// use axum::body::{to_bytes, Body};
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use portcullis_axum::{Authenticated, TokenVerifier};
/// use tower::ServiceExt; // `oneshot`, to call the router without a server
/// # use std::sync::Arc;
/// # use async_trait::async_trait;
/// # use portcullis_axum::{ScopeSet, TokenInfo, Verifier, VerifyError};
/// # struct Demo;
/// # #[async_trait]
/// # impl Verifier for Demo {
/// #     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
/// #         Ok((token == "let-me-in").then(|| TokenInfo {
/// #             scope: ScopeSet::from_tokens(["read"]),
/// #             client_id: "demo".into(),
/// #             user_id: Some("7".into()),
/// #             username: Some("ada".into()),
/// #             expires_at: i64::MAX,
/// #             issued_at: 0,
/// #             audience: Vec::new(),
/// #         }))
/// #     }
/// # }
/// async fn whoami(Authenticated(token): Authenticated) -> String {
///     token.username.unwrap_or(token.client_id)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // `Demo` is a `Verifier` that knows one token, `let-me-in`, of user ada.
/// let app = Router::new().route("/whoami", get(whoami)).with_state(TokenVerifier::new(Arc::new(Demo), "api"));
///
/// let request = Request::get("/whoami").header("authorization", "Bearer let-me-in").body(Body::empty())?;
/// let response = app.clone().oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(to_bytes(response.into_body(), 1024).await?, "ada");
///
/// // RFC 6750 §3.1: no token, a challenge without an error code; a bad one, `invalid_token`.
/// let response = app.clone().oneshot(Request::get("/whoami").body(Body::empty())?).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api""#);
/// let request = Request::get("/whoami").header("authorization", "Bearer guess").body(Body::empty())?;
/// let response = app.oneshot(request).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="api", error="invalid_token""#);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated(pub TokenInfo);

impl<S> FromRequestParts<S> for Authenticated
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Any scope will do, so a `401` names none: a client asks for the resource's
        // `scopes_supported` (RFC 9728 §2), or what it needs for its own purposes.
        authenticate(parts, &TokenVerifier::from_ref(state), None).await.map(Self)
    }
}

/// The token of the request, if valid; otherwise the refusal, whose `401` names
/// `needed` when the verifier guards a [`ProtectedResource`](crate::ProtectedResource)
/// (without one, challenges stay as RFC 6750 alone has them).
// No span here on purpose: the request parts hold the token.
async fn authenticate(parts: &Parts, verifier: &TokenVerifier, needed: Option<String>) -> Result<TokenInfo, AuthError> {
    let refuse = |kind| match (&needed, verifier.resource()) {
        (Some(scope), Some(_)) => verifier.refuse(kind).with_scope(scope.clone()),
        _ => verifier.refuse(kind),
    };
    let token = match bearer::from_headers(&parts.headers) {
        Presented::Token(token) => token,
        Presented::Nothing => return Err(refuse(AuthErrorKind::Missing)),
        Presented::Malformed(why) => return Err(refuse(AuthErrorKind::InvalidRequest(why))),
    };
    match verifier.verify(token).await {
        Ok(Some(info)) => Ok(info),
        Ok(None) => Err(refuse(AuthErrorKind::InvalidToken)),
        Err(error) => {
            tracing::warn!(%error, "bearer token could not be checked");
            Err(refuse(AuthErrorKind::Unavailable))
        }
    }
}

/// A request whose valid bearer token holds every scope that `P` demands for the
/// request's method: django-oauth-toolkit's `TokenHasScope` and
/// `TokenHasReadWriteScope`. The token comes first; the second field only carries the
/// policy's type, so handlers match it with `..`.
///
/// ```
/// use axum::body::Body;
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use portcullis_axum::{ReadWrite, Scoped, TokenVerifier};
/// use tower::ServiceExt; // `oneshot`, to call the router without a server
/// # use std::sync::Arc;
/// # use async_trait::async_trait;
/// # use portcullis_axum::{ScopeSet, TokenInfo, Verifier, VerifyError};
/// # struct Demo;
/// # #[async_trait]
/// # impl Verifier for Demo {
/// #     async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
/// #         Ok((token == "let-me-in").then(|| TokenInfo {
/// #             scope: ScopeSet::from_tokens(["read"]),
/// #             client_id: "demo".into(),
/// #             user_id: Some("7".into()),
/// #             username: Some("ada".into()),
/// #             expires_at: i64::MAX,
/// #             issued_at: 0,
/// #             audience: Vec::new(),
/// #         }))
/// #     }
/// # }
/// async fn photos(Scoped(token, ..): Scoped<ReadWrite>) -> String {
///     format!("photos of user {}", token.user_id.unwrap_or_default())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // `Demo` is a `Verifier` that knows one token, `let-me-in`, with scope `read` only.
/// let verifier = TokenVerifier::new(Arc::new(Demo), "photos");
/// let app = Router::new().route("/photos", get(photos).post(photos)).with_state(verifier);
/// let call = |method: &str| {
///     let request = Request::builder().method(method).uri("/photos");
///     request.header("authorization", "Bearer let-me-in").body(Body::empty())
/// };
///
/// let response = app.clone().oneshot(call("GET")?).await?;
/// assert_eq!(response.status(), StatusCode::OK);
/// // Writing needs `write`: RFC 6750 §3.1's `insufficient_scope`, naming it.
/// let response = app.oneshot(call("POST")?).await?;
/// assert_eq!(response.status(), StatusCode::FORBIDDEN);
/// assert_eq!(
///     response.headers()["www-authenticate"],
///     r#"Bearer realm="photos", error="insufficient_scope", scope="write""#
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Scoped<P: ScopePolicy>(pub TokenInfo, pub PhantomData<P>);

impl<S, P> FromRequestParts<S> for Scoped<P>
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
    P: ScopePolicy,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = TokenVerifier::from_ref(state);
        // Every scope of the first alternative, whatever the token already holds, in
        // the `401` and the `403` alike: a client asks for these (with what it has, for
        // a step up) and gets through.
        let needed = P::alternatives(&parts.method).first().map(|needed| needed.join(" ")).unwrap_or_default();
        let info = authenticate(parts, &verifier, Some(needed.clone()).filter(|n| !n.is_empty())).await?;
        if P::allows(&parts.method, &info.scope) {
            Ok(Self(info, PhantomData))
        } else {
            Err(verifier.refuse(AuthErrorKind::InsufficientScope(needed)))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use async_trait::async_trait;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::verify::{Verifier, VerifyError};
    use crate::{require_scopes, ReadWrite, ScopePolicy, ScopeSet};

    use super::*;

    /// A verifier over a fixed table: the kit's own tests need no provider.
    struct Table(HashMap<&'static str, &'static str>, bool);

    #[async_trait]
    impl Verifier for Table {
        async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
            if self.1 {
                return Err(VerifyError("down".into()));
            }
            Ok(self.0.get(token).map(|scope| TokenInfo {
                scope: ScopeSet::parse(scope).unwrap_or_default(),
                client_id: "c".into(),
                user_id: Some("1".into()),
                username: Some("u".into()),
                expires_at: 0,
                issued_at: 0,
                audience: Vec::new(),
            }))
        }
    }

    require_scopes!(Groups = ["groups"]);

    /// Photos are read with `read` or with `admin`; changed with `write` and `photos`.
    struct Photos;

    impl ScopePolicy for Photos {
        fn alternatives(method: &http::Method) -> &'static [&'static [&'static str]] {
            match *method {
                http::Method::GET => &[&["read"], &["admin"]],
                _ => &[&["write", "photos"]],
            }
        }
    }

    fn app(down: bool) -> Router {
        let table = Table(
            HashMap::from([
                ("rt", "read"),
                ("wt", "write"),
                ("gt", "groups read"),
                ("at", "admin"),
                ("pt", "photos write"),
            ]),
            down,
        );
        let verifier = TokenVerifier::new(Arc::new(table), "api");
        Router::new()
            .route("/any", get(|_: Authenticated| async { "ok" }))
            .route("/rw", get(|_: Scoped<ReadWrite>| async { "ok" }).post(|_: Scoped<ReadWrite>| async { "ok" }))
            .route("/groups", get(|_: Scoped<Groups>| async { "ok" }))
            .route("/photos", get(|_: Scoped<Photos>| async { "ok" }).post(|_: Scoped<Photos>| async { "ok" }))
            .with_state(verifier)
    }

    async fn call(app: Router, method: &str, path: &str, auth: Option<&str>) -> (StatusCode, Option<String>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = app.oneshot(request.body(Body::empty()).unwrap_or_default()).await;
        let response = match response {
            Ok(r) => r,
            Err(e) => match e {},
        };
        let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.status(), challenge)
    }

    #[tokio::test]
    async fn answers_per_rfc6750() {
        let (status, challenge) = call(app(false), "GET", "/any", None).await;
        assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"api\"")));

        let (status, challenge) = call(app(false), "GET", "/any", Some("Bearer nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\", error=\"invalid_token\""));

        let (status, _) = call(app(false), "GET", "/any", Some("Bearer bad token")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        assert_eq!(call(app(false), "GET", "/rw", Some("Bearer rt")).await.0, StatusCode::OK);
        let (status, challenge) = call(app(false), "POST", "/rw", Some("Bearer rt")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"write\""));
        assert_eq!(call(app(false), "POST", "/rw", Some("Bearer wt")).await.0, StatusCode::OK);
        assert_eq!(call(app(false), "GET", "/groups", Some("Bearer gt")).await.0, StatusCode::OK);
        assert_eq!(call(app(false), "GET", "/groups", Some("Bearer rt")).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn any_one_alternative_lets_a_request_through() {
        for token in ["rt", "at"] {
            let (status, _) = call(app(false), "GET", "/photos", Some(&format!("Bearer {token}"))).await;
            assert_eq!(status, StatusCode::OK, "{token}: read or admin");
        }
        let (status, challenge) = call(app(false), "GET", "/photos", Some("Bearer wt")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"read\""));
        // Each alternative is all-of: `write` alone is not `write photos`.
        assert_eq!(call(app(false), "POST", "/photos", Some("Bearer wt")).await.0, StatusCode::FORBIDDEN);
        assert_eq!(call(app(false), "POST", "/photos", Some("Bearer pt")).await.0, StatusCode::OK);
        let (_, challenge) = call(app(false), "POST", "/photos", Some("Bearer at")).await;
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"write photos\"")
        );
    }

    #[tokio::test]
    async fn provider_down_is_503_not_401() {
        let (status, challenge) = call(app(true), "GET", "/any", Some("Bearer rt")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(challenge, None);
        let (status, challenge) = call(protected(false, true), "GET", "/photos", Some("Bearer mine-read")).await;
        assert_eq!((status, challenge), (StatusCode::SERVICE_UNAVAILABLE, None), "a resource changes nothing here");
    }

    const PHOTOS: &str = "https://api.example/photos";
    const BILLING: &str = "https://api.example/billing";
    const METADATA: &str = "https://api.example/.well-known/oauth-protected-resource/photos";

    /// Tokens with an audience (RFC 8707): the token's name says what it is bound to.
    struct Bound(bool);

    #[async_trait]
    impl Verifier for Bound {
        async fn verify(&self, token: &str) -> Result<Option<TokenInfo>, VerifyError> {
            if self.0 {
                return Err(VerifyError("down".into()));
            }
            let (scope, audience): (&str, &[&str]) = match token {
                "mine-read" => ("read", &[PHOTOS]),
                "mine-write" => ("write", &[PHOTOS]),
                "other" => ("read write photos", &[BILLING]),
                "both" => ("read", &[BILLING, PHOTOS]),
                "unbound" => ("read write photos", &[]),
                _ => return Ok(None),
            };
            Ok(Some(TokenInfo {
                scope: ScopeSet::parse(scope).unwrap(),
                client_id: "c".into(),
                user_id: None,
                username: None,
                expires_at: 0,
                issued_at: 0,
                audience: audience.iter().map(|a| (*a).to_owned()).collect(),
            }))
        }
    }

    /// The photos API as the protected resource `PHOTOS`.
    fn protected(strict: bool, down: bool) -> Router {
        let resource = crate::ProtectedResource::new(PHOTOS)
            .unwrap()
            .authorization_server("https://auth.example/o")
            .scopes_supported(["read", "write", "photos", "admin"])
            .strict_audience(strict);
        let verifier = TokenVerifier::new(Arc::new(Bound(down)), "api").protecting(resource);
        Router::new()
            .route("/any", get(|_: Authenticated| async { "ok" }))
            .route("/photos", get(|_: Scoped<Photos>| async { "ok" }).post(|_: Scoped<Photos>| async { "ok" }))
            .with_state(verifier)
    }

    /// The challenge's auth-params, as a client library reads them: scheme `Bearer`
    /// (compared case-insensitively, RFC 7235 §2.1), names lowercased, values unquoted.
    fn bearer_params(challenge: Option<&str>) -> HashMap<String, String> {
        let challenge = challenge.expect("a WWW-Authenticate challenge");
        let parsed = http_auth::parse_challenges(challenge).unwrap();
        assert_eq!(parsed.len(), 1, "{challenge}");
        assert!(parsed[0].scheme.eq_ignore_ascii_case("bearer"), "{challenge}");
        parsed[0].params.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.to_unescaped())).collect()
    }

    #[tokio::test]
    async fn rfc9728_5_1_every_401_names_the_metadata_and_the_scopes_needed() {
        // RFC 9728 §5.1: "resource_metadata: The URL of the protected resource
        // metadata."; RFC 6750 §3: "scope ... indicating the required scope of the access
        // token for accessing the requested resource".
        let (status, challenge) = call(protected(false, false), "GET", "/photos", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));
        assert_eq!(params.get("scope").map(String::as_str), Some("read"), "the first alternative for GET");
        assert_eq!(params.get("realm").map(String::as_str), Some("api"));
        // RFC 6750 §3.1: no credentials, "SHOULD NOT include an error code".
        assert!(!params.contains_key("error"), "{params:?}");

        let (_, challenge) = call(protected(false, false), "POST", "/photos", None).await;
        assert_eq!(bearer_params(challenge.as_deref()).get("scope").map(String::as_str), Some("write photos"));

        // Any valid token will do for `Authenticated`: no scope to name.
        let (status, challenge) = call(protected(false, false), "GET", "/any", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));
        assert!(!params.contains_key("scope"), "{params:?}");

        let (status, challenge) = call(protected(false, false), "GET", "/photos", Some("Bearer nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("error").map(String::as_str), Some("invalid_token"));
        assert_eq!(params.get("scope").map(String::as_str), Some("read"));
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));

        // A malformed request is 400: the metadata, but no scope.
        let (status, challenge) = call(protected(false, false), "GET", "/photos", Some("Bearer a b")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("error").map(String::as_str), Some("invalid_request"));
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));
        assert!(!params.contains_key("scope"), "{params:?}");
    }

    #[tokio::test]
    async fn insufficient_scope_names_every_scope_the_request_needs() {
        // RFC 6750 §3.1 insufficient_scope: "MAY include the "scope" attribute with the
        // scope necessary to access the protected resource": all of it, not only what
        // the token lacks, so that a client asking for exactly this gets through.
        let (status, challenge) = call(protected(false, false), "POST", "/photos", Some("Bearer mine-write")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("error").map(String::as_str), Some("insufficient_scope"));
        assert_eq!(params.get("scope").map(String::as_str), Some("write photos"), "write is held, photos is not");
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));
        assert_eq!(call(protected(false, false), "GET", "/photos", Some("Bearer mine-read")).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn tokens_bound_to_another_resource_are_invalid_token() {
        // RFC 8707 §2 and RFC 9068 §4: a token is for the resources in its audience.
        let (status, challenge) = call(protected(false, false), "GET", "/any", Some("Bearer other")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let params = bearer_params(challenge.as_deref());
        assert_eq!(params.get("error").map(String::as_str), Some("invalid_token"));
        assert_eq!(params.get("resource_metadata").map(String::as_str), Some(METADATA));
        // Refused before its scopes are looked at: 401, not 403.
        assert_eq!(
            call(protected(false, false), "POST", "/photos", Some("Bearer other")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(call(protected(false, false), "GET", "/any", Some("Bearer both")).await.0, StatusCode::OK);
        // Bound to nothing: accepted, unless the resource is strict.
        assert_eq!(call(protected(false, false), "POST", "/photos", Some("Bearer unbound")).await.0, StatusCode::OK);
        let (status, challenge) = call(protected(true, false), "GET", "/any", Some("Bearer unbound")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(bearer_params(challenge.as_deref()).get("error").map(String::as_str), Some("invalid_token"));
        assert_eq!(call(protected(true, false), "GET", "/any", Some("Bearer mine-read")).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn without_a_resource_the_audience_is_not_checked() {
        // The kit's behaviour before RFC 9728: a verifier that guards no resource has no
        // identity to compare the audience with.
        let verifier = TokenVerifier::new(Arc::new(Bound(false)), "api");
        let app: Router = Router::new().route("/any", get(|_: Authenticated| async { "ok" })).with_state(verifier);
        assert_eq!(call(app.clone(), "GET", "/any", Some("Bearer other")).await.0, StatusCode::OK);
        let (_, challenge) = call(app, "GET", "/any", None).await;
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"api\""));
    }
}
