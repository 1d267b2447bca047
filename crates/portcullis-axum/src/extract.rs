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

    // No span here on purpose: the request parts hold the token.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = TokenVerifier::from_ref(state);
        let realm = verifier.realm();
        let token = match bearer::from_headers(&parts.headers) {
            Presented::Token(token) => token,
            Presented::Nothing => return Err(AuthError::new(AuthErrorKind::Missing, realm)),
            Presented::Malformed(why) => return Err(AuthError::new(AuthErrorKind::InvalidRequest(why), realm)),
        };
        match verifier.verify(token).await {
            Ok(Some(info)) => Ok(Self(info)),
            Ok(None) => Err(AuthError::new(AuthErrorKind::InvalidToken, realm)),
            Err(error) => {
                tracing::warn!(%error, "bearer token could not be checked");
                Err(AuthError::new(AuthErrorKind::Unavailable, realm))
            }
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
        let Authenticated(info) = Authenticated::from_request_parts(parts, state).await?;
        if P::allows(&parts.method, &info.scope) {
            Ok(Self(info, PhantomData))
        } else {
            let verifier = TokenVerifier::from_ref(state);
            let named = P::alternatives(&parts.method).first().map(|needed| needed.join(" ")).unwrap_or_default();
            Err(AuthError::new(AuthErrorKind::InsufficientScope(named), verifier.realm()))
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
    }
}
