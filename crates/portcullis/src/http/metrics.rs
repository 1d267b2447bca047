//! `GET /metrics`: what the server has done and holds, in the OpenMetrics text format
//! that Prometheus scrapes.
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `http_requests_total` | `route`, `method`, `status` | requests answered |
//! | `http_request_duration_seconds` | `route`, `method` | histogram of the time to answer, 0.5 ms to 5 s |
//! | `oauth_tokens_issued_total` | `grant` | access tokens issued (and stored), per grant |
//! | `portcullis_active_sessions` | | logged-in browser sessions that have not expired |
//! | `db_pool_connections` | `pool`, `state` (`idle`, `in_use`) | the database pools' connections |
//! | `db_pool_max_connections` | `pool` | the most each pool opens |
//!
//! `route` is the route template the request matched (`/o/applications/{id}/`), never
//! the path itself: paths carry ids, and anyone can send any number of distinct ones,
//! each of which would become a series of its own. A request that matched no route is
//! `unmatched`. `method` is one of the methods HTTP defines, or `other`. Scrapes
//! themselves are not counted: Prometheus records its own (`up`,
//! `scrape_duration_seconds`), and a scrape every 15 s would otherwise outnumber the
//! rarer routes.
//!
//! The counters and histograms live in a [`Metrics`] that each [`AppState`] owns, not in
//! a process-wide registry, so that tests and hosts can run several providers in one
//! process and each reports its own. The gauges are read when scraped: the session
//! count from the store (bounded by a timeout, so a slow database answers a scrape
//! without it rather than hanging it), the pools from the driver without a query.
//!
//! Nothing exported is secret: labels are route templates, method names, status codes,
//! grant types and pool names, never a token, a client id, a user or a password, so
//! `/metrics` answers whoever reaches it, as exporters do.
//!
//! [`Metrics`]: crate::http::metrics::Metrics
//! [`AppState`]: crate::http::AppState

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, StatusCode};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::http::AppState;
use crate::proto::TokenGrant;
use crate::store::{Store, StoreError};

/// The `Content-Type` of the OpenMetrics text format, which Prometheus asks for first.
pub const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `route` of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency buckets, in seconds: a token check from the cache takes
/// well under a millisecond, a password check (Argon2id) tens of milliseconds, and
/// anything past 5 s has failed for the client anyway.
const LATENCY_BUCKETS: [f64; 13] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How long a scrape waits for the store to count the sessions; past it the scrape
/// answers without `portcullis_active_sessions`. Prometheus gives a scrape 10 s.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The route label: the matched template, or [`UNMATCHED`]. Holds axum's own
/// [`MatchedPath`], whose clone shares its string, so labelling a request allocates
/// nothing.
#[derive(Clone, Debug)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Route,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolStateLabels {
    pool: &'static str,
    state: &'static str,
}

/// One provider's metrics: the counters and histograms its requests and grants update,
/// and the registry that exports them. Cheap to clone; clones share the values.
#[derive(Clone, Debug)]
pub struct Metrics(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens: Family<GrantLabels, Counter>,
    /// When the last session count started, and what it found: a scrape that waited
    /// for a count started after it asked takes that count instead of making another,
    /// so a burst of scrapes costs the database a query or two, not one each, and
    /// scrapes never hold more than one of its connections.
    sessions: tokio::sync::Mutex<Option<(Instant, i64)>>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics, every count at zero.
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let tokens = Family::<GrantLabels, Counter>::default();
        // Every grant has a series from the start (at 0), so `rate()` sees a grant's
        // first token rather than its series appearing.
        for grant in TokenGrant::ALL {
            tokens.get_or_create(&GrantLabels { grant: grant.as_str() }).inc_by(0);
        }
        let mut registry = Registry::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route, method and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving an HTTP request to its response's head, by matched route and method",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "oauth_tokens_issued",
            "Access tokens issued and stored, by grant type (implicit: by the authorization endpoint)",
            tokens.clone(),
        );
        Self(Arc::new(Inner { registry, requests, durations, tokens, sessions: tokio::sync::Mutex::new(None) }))
    }

    /// Counts an access token issued by `grant`.
    pub(crate) fn token_issued(&self, grant: TokenGrant) {
        self.0.tokens.get_or_create(&GrantLabels { grant: grant.as_str() }).inc();
    }

    fn record(&self, route: Route, method: &'static str, status: StatusCode, elapsed: Duration) {
        let labels = RequestLabels { route, method, status: status.as_u16() };
        self.0.requests.get_or_create(&labels).inc();
        let RequestLabels { route, method, .. } = labels;
        self.0.durations.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    }

    /// The whole exposition, in the OpenMetrics text format: the counters and
    /// histograms, then the gauges read now from `store` (sessions unexpired at `now`,
    /// and the connection pools). Fails only if the text cannot be written, which
    /// writing to a `String` never does.
    pub async fn render(&self, store: &dyn Store, now: i64) -> Result<String, std::fmt::Error> {
        // The pools first: the count's own connection would otherwise show as in use,
        // as sqlx hands a connection back to its pool in a task of its own.
        let pools = store.pool_stats();
        let sessions = self.active_sessions(store, now).await;

        // The gauges go into a registry of this scrape's own, appended to the lasting
        // one: their values exist only as of now.
        let mut scrape = Registry::default();
        if let Some(count) = sessions {
            let gauge = Gauge::<i64>::default();
            gauge.set(count);
            scrape.register("portcullis_active_sessions", "Logged-in browser sessions that have not expired", gauge);
        }
        if !pools.is_empty() {
            let connections = Family::<PoolStateLabels, Gauge>::default();
            let max = Family::<PoolLabels, Gauge>::default();
            for pool in &pools {
                let pool_state = |state| PoolStateLabels { pool: pool.name, state };
                connections.get_or_create(&pool_state("idle")).set(i64::from(pool.idle));
                connections.get_or_create(&pool_state("in_use")).set(i64::from(pool.in_use()));
                max.get_or_create(&PoolLabels { pool: pool.name }).set(i64::from(pool.max));
            }
            scrape.register("db_pool_connections", "Open database connections, by pool and state", connections);
            scrape.register("db_pool_max_connections", "The most connections each database pool opens", max);
        }

        let mut text = String::with_capacity(8 * 1024);
        encode_registry(&mut text, &self.0.registry)?;
        encode_registry(&mut text, &scrape)?;
        encode_eof(&mut text)?;
        Ok(text)
    }

    /// The number of active sessions, or `None` (logged) if the store fails or takes
    /// longer than [`STORE_TIMEOUT`].
    async fn active_sessions(&self, store: &dyn Store, now: i64) -> Option<i64> {
        let asked = Instant::now();
        let counted = tokio::time::timeout(STORE_TIMEOUT, async {
            let mut last = self.0.sessions.lock().await;
            match *last {
                Some((started, count)) if started >= asked => Ok::<_, StoreError>(count),
                _ => {
                    let started = Instant::now();
                    let count = store.count_active_sessions(now).await?;
                    *last = Some((started, count));
                    Ok(count)
                }
            }
        })
        .await;
        match counted {
            Ok(Ok(count)) => Some(count),
            Ok(Err(error)) => {
                tracing::warn!(%error, "metrics: cannot count the active sessions");
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?STORE_TIMEOUT, "metrics: counting the active sessions took too long");
                None
            }
        }
    }

    /// The layer that counts and times every request to the routes it wraps.
    pub(crate) fn layer(&self) -> RequestMetricsLayer {
        RequestMetricsLayer(self.clone())
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    match state.metrics.render(state.store.as_ref(), state.clock.now()).await {
        Ok(text) => ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS), (CACHE_CONTROL, "no-store")], text).into_response(),
        Err(_) => {
            tracing::error!("metrics: the exposition could not be written");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The `method` label: a fixed string per method HTTP defines, so that a client
/// inventing methods cannot make series.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "other",
    }
}

/// Wraps each route (and the fallback) of a router in [`RequestMetricsService`]. Applied
/// with `Router::layer`, it runs after routing, so the request carries its
/// [`MatchedPath`].
#[derive(Clone)]
pub(crate) struct RequestMetricsLayer(Metrics);

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetricsService { inner, metrics: self.0.clone() }
    }
}

/// Counts and times the requests to one route. On the token endpoint's path, so it
/// allocates nothing: the labels are a shared route string and static strings, and the
/// future wraps the route's without boxing it.
#[derive(Clone)]
pub(crate) struct RequestMetricsService<S> {
    inner: S,
    metrics: Metrics,
}

impl<S, B, R> tower::Service<Request<B>> for RequestMetricsService<S>
where
    S: tower::Service<Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = Route(request.extensions().get::<MatchedPath>().cloned());
        let method = method_label(request.method());
        Timed {
            start: Instant::now(),
            labels: Some((self.metrics.clone(), route, method)),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// A route's response future that records the request when the response is ready.
    /// A request whose client went away before then is not recorded.
    pub(crate) struct Timed<F> {
        #[pin]
        inner: F,
        start: Instant,
        labels: Option<(Metrics, Route, &'static str)>,
    }
}

impl<F, R, E> Future for Timed<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some((metrics, route, method))) = (&result, this.labels.take()) {
            metrics.record(route, method, response.status(), this.start.elapsed());
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of the exposition that dashboards and the README rely on: names with
    /// the suffixes OpenMetrics adds, labels in order, the grants at zero from the
    /// start, the buckets from 0.5 ms to 5 s.
    #[test]
    fn a_request_and_a_token_are_exported_under_their_names() {
        let metrics = Metrics::new();
        let route = Route(None);
        metrics.record(route, method_label(&Method::GET), StatusCode::NOT_FOUND, Duration::from_micros(700));
        metrics.token_issued(TokenGrant::Password);
        let mut text = String::new();
        encode_registry(&mut text, &metrics.0.registry).unwrap();
        for line in [
            "# TYPE http_requests counter",
            r#"http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            "# TYPE http_request_duration_seconds histogram",
            "# UNIT http_request_duration_seconds seconds",
            r#"http_request_duration_seconds_bucket{le="0.0005",route="unmatched",method="GET"} 0"#,
            r#"http_request_duration_seconds_bucket{le="0.001",route="unmatched",method="GET"} 1"#,
            r#"http_request_duration_seconds_bucket{le="5.0",route="unmatched",method="GET"} 1"#,
            r#"http_request_duration_seconds_bucket{le="+Inf",route="unmatched",method="GET"} 1"#,
            r#"http_request_duration_seconds_count{route="unmatched",method="GET"} 1"#,
            r#"oauth_tokens_issued_total{grant="password"} 1"#,
            r#"oauth_tokens_issued_total{grant="client_credentials"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
        }
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::TRACE), "other");
    }
}
