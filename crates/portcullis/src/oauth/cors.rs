//! CORS for the endpoints a browser application calls from its own origin: the token
//! and revocation endpoints, and UserInfo (OpenID Connect Core §5.3, which such
//! applications call with their access token).
//!
//! An origin may call when the settings allow it everywhere (`oauth2.allowed_origins`)
//! or when an application registered it (its `allowed_origins`), as django-oauth-toolkit
//! honours them (oauthlib's `is_origin_allowed(client_id, origin)`):
//!
//! - A preflight names no client, so it passes for an origin that some application
//!   registered.
//! - An answer is for a client (the one the request authenticates as, or whose access
//!   token it carries): only that client's origins may read it, so a page on one
//!   application's origin cannot read another application's tokens. An answer refused
//!   before any client was named (a malformed request, an invalid token) is readable
//!   by any registered origin, so that the application can see why.
//!
//! A request without an `Origin` header is not a cross-origin request from a browser:
//! it goes straight to the route, with no store lookup, allocation or added header
//! (the layer and the handler each look for the header, and that is all). tower-http's
//! CORS layer, used before, cost about 5% of a client-credentials issuance's
//! instructions on every request (cloned with the route, three `Vary` values added to
//! every answer; measured with callgrind).

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::store::front::MAX_AGE;
use crate::store::{Store, StoreError};

/// Who may call, and the origins the applications registered, read again at most
/// [`MAX_AGE`] after they were last read: a newly registered origin is honoured within
/// that time, like any change another instance makes to what the store caches.
pub(crate) struct Cors {
    store: Arc<dyn Store>,
    /// `oauth2.allowed_origins`: allowed for every client.
    everywhere: Vec<String>,
    registered: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl Cors {
    pub(crate) fn new(store: Arc<dyn Store>, everywhere: &[String]) -> Arc<Self> {
        Arc::new(Self { store, everywhere: everywhere.to_vec(), registered: RwLock::new(None) })
    }

    /// The layer for routes answering `methods` (as `Access-Control-Allow-Methods`
    /// lists them).
    pub(crate) fn layer(self: &Arc<Self>, methods: &'static str) -> CorsLayer {
        CorsLayer { cors: self.clone(), methods: HeaderValue::from_static(methods) }
    }

    /// Whether `origin` may read an answer for `client` (`None`: no client named).
    async fn allows(&self, origin: &str, client: Option<&str>) -> Result<bool, StoreError> {
        if self.everywhere.iter().any(|o| o == origin) {
            return Ok(true);
        }
        match client {
            // The application record is cached with every token check's.
            Some(client_id) => Ok(self
                .store
                .application_by_client_id(client_id)
                .await?
                .is_some_and(|app| app.settings.allowed_origins.iter().any(|o| o == origin))),
            None => Ok(self.registered().await?.contains(origin)),
        }
    }

    /// Every origin some application registered.
    async fn registered(&self) -> Result<Arc<HashSet<String>>, StoreError> {
        if let Ok(cache) = self.registered.read() {
            if let Some((_, origins)) = cache.as_ref().filter(|(at, _)| at.elapsed() < MAX_AGE) {
                return Ok(origins.clone());
            }
        }
        let applications = self.store.list_applications().await?;
        let origins: Arc<HashSet<String>> =
            Arc::new(applications.into_iter().flat_map(|app| app.settings.allowed_origins).collect());
        if let Ok(mut cache) = self.registered.write() {
            *cache = Some((Instant::now(), origins.clone()));
        }
        Ok(origins)
    }

    /// [`Cors::allows`], a store failure counted as no: the answer itself still goes
    /// out, unreadable by the page, and the failure is logged.
    async fn allows_or_log(&self, origin: &str, client: Option<&str>) -> bool {
        self.allows(origin, client).await.unwrap_or_else(|error| {
            tracing::error!(%error, "CORS: cannot read the allowed origins");
            false
        })
    }
}

/// The client an answer is for, put in its extensions by the handler when the request
/// has an `Origin` ([`cross_origin`]): only that client's origins may read it.
#[derive(Debug, Clone)]
pub(crate) struct ForClient(pub String);

/// Whether a request comes from a page on another origin, so that its handler should
/// name the client its answer is for.
pub(crate) fn cross_origin(headers: &HeaderMap) -> bool {
    headers.contains_key(ORIGIN)
}

/// Names the client `response` is for (see [`ForClient`]).
pub(crate) fn for_client(response: &mut Response, client_id: Option<String>) {
    if let Some(client_id) = client_id {
        response.extensions_mut().insert(ForClient(client_id));
    }
}

/// [`cross_origin`] as an extractor, for a handler that takes no headers otherwise:
/// reads the headers in place, copies nothing.
pub(crate) struct CrossOrigin(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for CrossOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(cross_origin(&parts.headers)))
    }
}

/// A preflight (Fetch: an `OPTIONS` request with `Access-Control-Request-Method`).
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to an allowed preflight.
fn preflight_answer(origin: HeaderValue, methods: HeaderValue) -> Response {
    let mut response = StatusCode::OK.into_response();
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    vary(headers, true);
    response
}

/// The answer depends on these request headers (RFC 9110 §12.5.5).
fn vary(headers: &mut HeaderMap, preflight: bool) {
    headers.append(VARY, HeaderValue::from_static("origin"));
    if preflight {
        headers.append(VARY, HeaderValue::from_static("access-control-request-method"));
        headers.append(VARY, HeaderValue::from_static("access-control-request-headers"));
    }
}

/// A request with an `Origin`: a preflight is answered here when the origin may call,
/// and passed on otherwise (to the method router's 405, as if no CORS existed); an
/// actual request is served, and its answer made readable if the origin may read it.
async fn with_origin<S>(
    cors: Arc<Cors>,
    methods: HeaderValue,
    origin: HeaderValue,
    request: Request,
    mut inner: S,
) -> Result<Response, Infallible>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    // An origin is ASCII (RFC 6454 §6.2); anything else was registered by nobody.
    let Ok(origin_text) = origin.to_str().map(str::to_owned) else { return inner.call(request).await };
    if is_preflight(request.method(), request.headers()) {
        if cors.allows_or_log(&origin_text, None).await {
            return Ok(preflight_answer(origin, methods));
        }
        return inner.call(request).await;
    }
    let mut response = inner.call(request).await?;
    let client = response.extensions_mut().remove::<ForClient>();
    let allowed = cors.allows_or_log(&origin_text, client.as_ref().map(|c| c.0.as_str())).await;
    let headers = response.headers_mut();
    if allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // So the page can read why a bearer token was refused (RFC 6750 §3).
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate"));
    }
    vary(headers, false);
    Ok(response)
}

/// Wraps routes in [`CorsService`]. Made by [`Cors::layer`].
#[derive(Clone)]
pub(crate) struct CorsLayer {
    cors: Arc<Cors>,
    methods: HeaderValue,
}

impl<S> tower::Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService { inner, cors: self.cors.clone(), methods: self.methods.clone() }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub(crate) struct CorsService<S> {
    inner: S,
    cors: Arc<Cors>,
    methods: HeaderValue,
}

impl<S> tower::Service<Request> for CorsService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(origin) = request.headers().get(ORIGIN).cloned() else {
            // Not a cross-origin request from a browser: nothing to do, nothing spent.
            return CorsFuture::Direct { inner: self.inner.call(request) };
        };
        // The service made ready goes with the request; its clone stays for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let cors = self.cors.clone();
        let methods = self.methods.clone();
        CorsFuture::WithOrigin { inner: Box::pin(with_origin(cors, methods, origin, request, inner)) }
    }
}

/// A boxed answer, for requests with an `Origin`.
type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// The route's own future for a request without an `Origin`; a boxed one with.
    #[project = CorsFutureProjection]
    pub(crate) enum CorsFuture<F> {
        Direct { #[pin] inner: F },
        WithOrigin { inner: Boxed },
    }
}

impl<F> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsFutureProjection::Direct { inner } => inner.poll(cx),
            CorsFutureProjection::WithOrigin { inner } => inner.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflights_are_options_requests_that_name_a_method() {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_static("https://spa.example"));
        assert!(!is_preflight(&Method::OPTIONS, &headers), "a plain OPTIONS request");
        headers.insert(ACCESS_CONTROL_REQUEST_METHOD, HeaderValue::from_static("POST"));
        assert!(is_preflight(&Method::OPTIONS, &headers));
        assert!(!is_preflight(&Method::POST, &headers));
        headers.insert(http::header::ACCESS_CONTROL_REQUEST_HEADERS, HeaderValue::from_static("authorization"));
        let answer =
            preflight_answer(HeaderValue::from_static("https://spa.example"), HeaderValue::from_static("POST"));
        assert_eq!(answer.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "https://spa.example");
        assert_eq!(answer.headers().get_all(VARY).iter().count(), 3);
    }
}
