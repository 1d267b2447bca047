//! The provider's edge: who the client is and whether it came over https, believing
//! `X-Forwarded-For` and `X-Forwarded-Proto` only from the proxies the settings trust,
//! and the security headers every answer of the provider carries.
//!
//! [`http::router`](crate::http::router) wraps every route of the provider (the fallback
//! too) in [`EdgeLayer`](crate::http::edge::EdgeLayer), so a host that mounts the provider
//! gets these headers on the provider's routes and keeps its own policy on its own.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request};
use ipnet::IpNet;

/// The Content Security Policy of every answer. The pages load one stylesheet and their
/// scripts from `/static/` on this server and call this server's endpoints with
/// `fetch` (the playground); nothing else, so everything else is `'none'`: no inline
/// script or style, no images, fonts, frames or plugins. `frame-ancestors 'none'` is
/// RFC 6749 §10.13's defence against clickjacking the consent and login pages.
///
/// There is no `form-action`: the consent and logout forms are answered with redirects
/// to the client's registered URIs, on other origins, and browsers check `form-action`
/// against each redirect of a form's submission too.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `Strict-Transport-Security` on answers to requests that came over https (RFC 6797
/// §7.2: not over plain http, where a browser ignores it anyway): a year, for this
/// host only, since the provider may share its parent domain with sites it does not
/// know about.
pub const STRICT_TRANSPORT_SECURITY_VALUE: &str = "max-age=31536000";

/// The networks whose `X-Forwarded-*` headers are believed: the reverse proxies in
/// front of the server. Empty (the default): every peer is the client itself.
///
/// In settings, a list of addresses (`"10.0.0.7"`, `"::1"`) and networks
/// (`"10.0.0.0/8"`, `"fd00::/8"`).
///
/// ```
/// use portcullis::http::edge::TrustedProxies;
///
/// let proxies = TrustedProxies::parse(["10.0.0.0/8", "::1"])?;
/// assert!(proxies.contains("10.1.2.3".parse()?));
/// assert!(!proxies.contains("192.0.2.1".parse()?));
/// // An IPv4 peer on a dual-stack socket is the IPv4 address it is.
/// assert!(proxies.contains("::ffff:10.0.0.7".parse()?));
/// assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
/// assert!(TrustedProxies::default().is_empty() && !proxies.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses and CIDR networks; the error names the first entry that is
    /// neither.
    pub fn parse<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut networks = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let network = match entry.parse::<IpAddr>() {
                Ok(address) => IpNet::from(address.to_canonical()),
                Err(_) => entry.parse::<IpNet>().map_err(|_| {
                    format!("{entry:?} is neither an IP address nor a network such as 10.0.0.0/8 or fd00::/8")
                })?,
            };
            networks.push(network);
        }
        Ok(Self(networks))
    }

    /// Whether `address` is one of the trusted proxies. An IPv4 peer seen through a
    /// dual-stack socket (`::ffff:10.0.0.7`) is compared as the IPv4 address it is.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<String>> for TrustedProxies {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        Self::parse(entries)
    }
}

impl From<TrustedProxies> for Vec<String> {
    fn from(proxies: TrustedProxies) -> Self {
        proxies.0.iter().map(ToString::to_string).collect()
    }
}

/// How a connection reached the server. [`crate::http::server::serve_with`] puts it in every
/// request's extensions; a host that accepts connections itself (and terminates TLS)
/// may insert it too, so that the provider knows an https request for one.
///
/// ```
/// use axum::body::{to_bytes, Body};
/// use axum::{routing::get, Router};
/// use http::Request;
/// use portcullis::http::edge::{ClientAddr, Connection, EdgeLayer, TrustedProxies};
/// use portcullis::http::edge::STRICT_TRANSPORT_SECURITY_VALUE;
/// use tower::ServiceExt as _;
///
/// async fn whoami(client: ClientAddr) -> String {
///     let ip = client.ip.map(|ip| ip.to_string()).unwrap_or_default();
///     format!("{ip} over {}", if client.https { "https" } else { "http" })
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = Router::new().route("/whoami", get(whoami)).layer(EdgeLayer::new(TrustedProxies::default()));
///
/// // A host that accepts connections and terminates TLS itself, for each request.
/// let mut request = Request::get("/whoami").body(Body::empty())?;
/// request.extensions_mut().insert(Connection { peer: "198.51.100.7:50123".parse()?, tls: true });
/// let response = app.oneshot(request).await?;
/// // Over https, browsers are told to stay on https (RFC 6797).
/// assert_eq!(response.headers()["strict-transport-security"], STRICT_TRANSPORT_SECURITY_VALUE);
/// assert_eq!(to_bytes(response.into_body(), 1024).await?, "198.51.100.7 over https");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The address at the other end of the TCP connection.
    pub peer: SocketAddr,
    /// Whether the connection is TLS that this process terminates.
    pub tls: bool,
}

/// The one answer, per request, to "who is the client" and "did it come over https".
///
/// The client is the connection's peer, unless the peer is a trusted proxy: then it is
/// the rightmost address of `X-Forwarded-For` that is not itself a trusted proxy (each
/// proxy appends the address it got the request from, so everything left of the first
/// untrusted hop may be made up by the client). The request came over https when this
/// process terminated TLS, or a trusted peer says so in `X-Forwarded-Proto`.
///
/// As an extractor it gives what [`EdgeLayer`] worked out for the request; without the
/// layer (a host's own route), the peer as it is, no proxy trusted.
///
/// ```
/// use axum::body::{to_bytes, Body};
/// use axum::response::Response;
/// use axum::{routing::get, Router};
/// use http::Request;
/// use portcullis::http::edge::{ClientAddr, Connection, EdgeLayer, TrustedProxies};
/// use tower::ServiceExt as _;
///
/// async fn whoami(client: ClientAddr) -> String {
///     let ip = client.ip.map(|ip| ip.to_string()).unwrap_or_default();
///     format!("{ip} over {}", if client.https { "https" } else { "http" })
/// }
///
/// # async fn text(response: Response) -> Result<String, Box<dyn std::error::Error>> {
/// #     Ok(String::from_utf8(to_bytes(response.into_body(), 1024).await?.to_vec())?)
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The load balancers are in 10.0.0.0/8.
/// let proxies = TrustedProxies::parse(["10.0.0.0/8"])?;
/// let app = Router::new().route("/whoami", get(whoami)).layer(EdgeLayer::new(proxies));
/// // A request on a connection from `peer`, saying it was forwarded for `chain`, over https.
/// let request = |peer: &str, chain: &str| -> Result<Request<Body>, Box<dyn std::error::Error>> {
///     let mut request = Request::get("/whoami")
///         .header("x-forwarded-for", chain)
///         .header("x-forwarded-proto", "https")
///         .body(Body::empty())?;
///     request.extensions_mut().insert(Connection { peer: peer.parse()?, tls: false });
///     Ok(request)
/// };
///
/// // Through a proxy: the client put 192.0.2.1 in front, the proxy appended the
/// // address it got the request from. Only the proxy's entry is believed.
/// let answer = app.clone().oneshot(request("10.0.0.2:4711", "192.0.2.1, 203.0.113.9")?).await?;
/// assert_eq!(text(answer).await?, "203.0.113.9 over https");
/// // Straight from a client: its forwarded headers are its own word, not believed.
/// let answer = app.oneshot(request("198.51.100.7:4711", "203.0.113.9")?).await?;
/// assert_eq!(text(answer).await?, "198.51.100.7 over http");
/// // A route without the layer trusts no proxy.
/// let bare = Router::new().route("/whoami", get(whoami));
/// let answer = bare.oneshot(request("10.0.0.2:4711", "203.0.113.9")?).await?;
/// assert_eq!(text(answer).await?, "10.0.0.2 over http");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address, if the server knows the connection's (a router called
    /// directly, as in unit tests, does not).
    pub ip: Option<IpAddr>,
    /// Whether the client's request came over https.
    pub https: bool,
}

impl ClientAddr {
    /// Works out the client from the connection's `peer`, whether it was TLS, and the
    /// request's headers, believing them only from `proxies`.
    pub(crate) fn resolve(peer: Option<IpAddr>, tls: bool, headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
            return Self { ip: None, https: tls };
        };
        if !proxies.contains(peer) {
            return Self { ip: Some(peer), https: tls };
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            // A value that is not text is a hop we cannot read: it stops the walk.
            .flat_map(|value| value.to_str().unwrap_or("?").split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            // An entry that is no address (`unknown`, an obfuscated name) ends what we
            // can know: the last proxy that passed it on is the best we have.
            let Some(address) = parse_hop(hop) else { break };
            client = address;
            if !proxies.contains(address) {
                break;
            }
        }
        // The nearest proxy's word: the last value of the last header line.
        let proto = headers
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .map(str::trim);
        let https = tls || proto.is_some_and(|p| p.eq_ignore_ascii_case("https"));
        Self { ip: Some(client), https }
    }

    /// [`ClientAddr::resolve`] for a request, from the [`Connection`] the server put in
    /// its extensions (or axum's `ConnectInfo<SocketAddr>`, for a router served by
    /// `axum::serve` with connect info).
    pub(crate) fn of_request(extensions: &http::Extensions, headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        let (peer, tls) = match extensions.get::<Connection>() {
            Some(connection) => (Some(connection.peer.ip()), connection.tls),
            None => (extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()), false),
        };
        Self::resolve(peer, tls, headers, proxies)
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`) or in brackets, as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok())?;
    Some(address.to_canonical())
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<ClientAddr>() {
            Some(resolved) => *resolved,
            None => Self::of_request(&parts.extensions, &parts.headers, &TrustedProxies::default()),
        })
    }
}

/// Works out each request's [`ClientAddr`] (once, for every handler to read) and adds
/// the security headers to its answer: [`CONTENT_SECURITY_POLICY_VALUE`],
/// `X-Frame-Options: DENY` (RFC 6749 §10.13, for browsers that predate
/// `frame-ancestors`), `Referrer-Policy: no-referrer` (codes and tokens travel in URLs:
/// RFC 6749 §10.6, RFC 6819 §4.4.1.1), `X-Content-Type-Options: nosniff`, and
/// [`STRICT_TRANSPORT_SECURITY_VALUE`] when the request came over https.
///
/// [`http::router`](crate::http::router) puts it around the provider. A host may put it
/// around routes of its own too, when their pages fit the policy (no inline script or
/// style, nothing from other origins):
///
/// ```
/// use axum::body::Body;
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use portcullis::http::edge::{EdgeLayer, TrustedProxies, CONTENT_SECURITY_POLICY_VALUE};
/// use tower::ServiceExt as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let app = Router::new()
///     .route("/orders", get(|| async { "orders" }))
///     .layer(EdgeLayer::new(TrustedProxies::default()));
///
/// for path in ["/orders", "/nowhere"] {
///     let response = app.clone().oneshot(Request::get(path).body(Body::empty())?).await?;
///     let headers = response.headers();
///     assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY_VALUE, "{path}");
///     assert_eq!(headers["x-frame-options"], "DENY");
///     assert_eq!(headers["referrer-policy"], "no-referrer");
///     assert_eq!(headers["x-content-type-options"], "nosniff");
///     // Plain http: no Strict-Transport-Security (RFC 6797 §7.2).
///     assert!(!headers.contains_key("strict-transport-security"));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct EdgeLayer {
    proxies: Arc<TrustedProxies>,
}

impl EdgeLayer {
    /// The layer, believing forwarded headers from `proxies` only.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self { proxies: Arc::new(proxies) }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService { inner, proxies: self.proxies.clone() }
    }
}

/// The service [`EdgeLayer`] wraps each route in.
#[derive(Debug, Clone)]
pub struct EdgeService<S> {
    inner: S,
    proxies: Arc<TrustedProxies>,
}

impl<S, B, R> tower::Service<Request<B>> for EdgeService<S>
where
    S: tower::Service<Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = WithHeaders<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let client = ClientAddr::of_request(request.extensions(), request.headers(), &self.proxies);
        request.extensions_mut().insert(client);
        WithHeaders { inner: self.inner.call(request), https: client.https }
    }
}

pin_project_lite::pin_project! {
    /// A route's response future that adds the security headers to its answer.
    pub struct WithHeaders<F> {
        #[pin]
        inner: F,
        https: bool,
    }
}

impl<F, R, E> std::future::Future for WithHeaders<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            let headers = response.headers_mut();
            headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE));
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            if *this.https {
                headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY_VALUE));
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_headers_say() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")]);
        // No proxy trusted (the default): the headers are the client's own words.
        let none = TrustedProxies::default();
        assert_eq!(
            ClientAddr::resolve(ip("198.51.100.7"), false, &spoofed, &none),
            ClientAddr { ip: ip("198.51.100.7"), https: false }
        );
        // Proxies trusted, but this peer is not one of them.
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        assert_eq!(
            ClientAddr::resolve(ip("198.51.100.7"), false, &spoofed, &proxies),
            ClientAddr { ip: ip("198.51.100.7"), https: false }
        );
        // TLS this process terminated is https whoever the peer.
        assert!(ClientAddr::resolve(ip("198.51.100.7"), true, &HeaderMap::new(), &proxies).https);
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8", "192.0.2.10"]).unwrap();
        let resolve =
            |pairs: &[(&'static str, &str)]| ClientAddr::resolve(ip("10.0.0.2"), false, &headers(pairs), &proxies);
        // One proxy: it appended the client's address.
        assert_eq!(resolve(&[("x-forwarded-for", "203.0.113.9")]).ip, ip("203.0.113.9"));
        // The client wrote an address of its own in front: the proxy's entry wins.
        assert_eq!(resolve(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]).ip, ip("203.0.113.9"));
        // A chain: edge proxy 192.0.2.10, then 10.0.0.5, then the peer 10.0.0.2.
        assert_eq!(resolve(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 192.0.2.10, 10.0.0.5")]).ip, ip("203.0.113.9"));
        // The same chain over several header lines, in order.
        assert_eq!(
            resolve(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9"), ("x-forwarded-for", "192.0.2.10, 10.0.0.5")]).ip,
            ip("203.0.113.9")
        );
        // Ports and brackets, as some proxies write them; IPv6 clients.
        assert_eq!(resolve(&[("x-forwarded-for", "203.0.113.9:4711")]).ip, ip("203.0.113.9"));
        assert_eq!(resolve(&[("x-forwarded-for", "[2001:db8::1]:4711")]).ip, ip("2001:db8::1"));
        assert_eq!(resolve(&[("x-forwarded-for", "2001:db8::1")]).ip, ip("2001:db8::1"));
        // Only proxies: the leftmost is as far as we can see.
        assert_eq!(resolve(&[("x-forwarded-for", "10.9.9.9, 192.0.2.10")]).ip, ip("10.9.9.9"));
        // No header: the proxy is the client (a health check from it, say).
        assert_eq!(resolve(&[]).ip, ip("10.0.0.2"));
        // Something that is no address stops the walk at the proxy that passed it on.
        assert_eq!(resolve(&[("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.5")]).ip, ip("10.0.0.5"));
        assert_eq!(resolve(&[("x-forwarded-for", "unknown")]).ip, ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_proto_counts_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse(["10.0.0.2"]).unwrap();
        let https = |peer: &str, proto: &str| {
            ClientAddr::resolve(ip(peer), false, &headers(&[("x-forwarded-proto", proto)]), &proxies).https
        };
        assert!(https("10.0.0.2", "https"));
        assert!(https("10.0.0.2", "HTTPS"));
        assert!(!https("10.0.0.2", "http"));
        assert!(!https("198.51.100.7", "https"), "an untrusted peer's X-Forwarded-Proto is ignored");
        // A list: the nearest proxy's, the last, is the one that counts.
        assert!(https("10.0.0.2", "http, https"));
        assert!(!https("10.0.0.2", "https, http"));
    }

    #[test]
    fn ipv4_peers_on_a_dual_stack_socket_match_ipv4_networks() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let peer = ip("::ffff:10.0.0.2");
        let resolved = ClientAddr::resolve(peer, false, &headers(&[("x-forwarded-for", "203.0.113.9")]), &proxies);
        assert_eq!(resolved.ip, ip("203.0.113.9"));
        // An untrusted mapped peer is reported as the IPv4 address it is.
        assert_eq!(
            ClientAddr::resolve(ip("::ffff:198.51.100.7"), false, &HeaderMap::new(), &proxies).ip,
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks_and_name_bad_entries() {
        let proxies = TrustedProxies::parse(["192.0.2.1", " 10.0.0.0/8 ", "fd00::/8", "::1"]).unwrap();
        for inside in ["192.0.2.1", "10.255.0.1", "fd12::3", "::1"] {
            assert!(proxies.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["192.0.2.2", "11.0.0.1", "fe80::1", "::2"] {
            assert!(!proxies.contains(outside.parse().unwrap()), "{outside}");
        }
        let error = TrustedProxies::parse(["10.0.0.0/8", "proxy.internal"]).unwrap_err();
        assert!(error.contains("\"proxy.internal\""), "{error}");
        assert!(TrustedProxies::parse(["10.0.0.0/40"]).is_err());
        // Written back as networks, read again as the same.
        let written: Vec<String> = proxies.clone().into();
        assert_eq!(TrustedProxies::parse(written).unwrap(), proxies);
    }
}
