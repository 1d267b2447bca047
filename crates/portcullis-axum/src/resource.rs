//! A protected resource's identity, given once (RFC 9728): its resource URI, the
//! authorization servers whose tokens it takes, and the scopes it knows. From it the kit
//! serves the resource's metadata document, names that document in every challenge
//! (RFC 9728 §5.1), and refuses tokens bound to another resource (RFC 8707).
//!
//! ```
//! use portcullis_axum::ProtectedResource;
//!
//! let photos = ProtectedResource::new("https://api.example/photos")?
//!     .authorization_server("https://auth.example/o")
//!     .scopes_supported(["read", "write"])
//!     .resource_name("Photos");
//! // RFC 9728 §3.1: the well-known string goes between the host and the path.
//! assert_eq!(photos.metadata_url(), "https://api.example/.well-known/oauth-protected-resource/photos");
//! assert_eq!(photos.metadata_path(), "/.well-known/oauth-protected-resource/photos");
//! # Ok::<(), portcullis_axum::resource::InvalidResource>(())
//! ```

use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use http::header::CACHE_CONTROL;
use http::HeaderValue;

use crate::wire::ResourceMetadata;

/// RFC 9728 §3: "By default, the well-known URI string used is
/// /.well-known/oauth-protected-resource."
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// How the kit's extractors read a bearer token, for `bearer_methods_supported`: the
/// `Authorization` header only (RFC 6750 §2.1; see [`crate::bearer`]).
pub const BEARER_METHODS: [&str; 1] = ["header"];

/// What clients may cache the metadata document for: it changes with the resource's
/// settings, that is with a restart.
const METADATA_MAX_AGE: &str = "public, max-age=3600";

/// A protected resource (RFC 9728 §2): what it is called, who issues its tokens, and
/// which tokens it takes. Attach it to a [`TokenVerifier`](crate::TokenVerifier) with
/// [`protecting`](crate::TokenVerifier::protecting), and serve its metadata with
/// [`router`](ProtectedResource::router).
///
/// ```
/// use std::sync::Arc;
///
/// use axum::{routing::get, Router};
/// use portcullis_axum::{Authenticated, ProtectedResource, TokenVerifier};
/// # use async_trait::async_trait;
/// # use portcullis_axum::{TokenInfo, Verifier, VerifyError};
/// # struct Demo;
/// # #[async_trait]
/// # impl Verifier for Demo {
/// #     async fn verify(&self, _token: &str) -> Result<Option<TokenInfo>, VerifyError> { Ok(None) }
/// # }
///
/// let resource = ProtectedResource::new("https://api.example/photos")?
///     .authorization_server("https://auth.example/o")
///     .scopes_supported(["read", "write"]);
/// // `Demo` stands for any `Verifier`: introspection, JWT, the provider's store.
/// let verifier = TokenVerifier::new(Arc::new(Demo), "photos").protecting(resource.clone());
/// let app: Router = Router::new()
///     .route("/photos", get(|_: Authenticated| async { "the album" }))
///     .with_state(verifier)
///     .merge(resource.router());
/// # Ok::<(), portcullis_axum::resource::InvalidResource>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
    strict_audience: bool,
    metadata_url: String,
    metadata_path: String,
}

/// A URI that cannot name a protected resource, and why. It comes from configuration,
/// so it names the URI.
///
/// ```
/// use portcullis_axum::ProtectedResource;
///
/// let refused = ProtectedResource::new("https://api.example/photos#top").err().map(|e| e.to_string());
/// assert_eq!(refused.as_deref(), Some(r#""https://api.example/photos#top" cannot identify a protected resource: it has a fragment"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri:?} cannot identify a protected resource: {why}")]
pub struct InvalidResource {
    /// The URI given.
    pub uri: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl ProtectedResource {
    /// The resource at `resource`, its resource identifier (RFC 9728 §1.2): "a URL that
    /// uses the https scheme and has no fragment component". Tokens are matched against
    /// it exactly as written, so write it as the authorization server will put it in
    /// tokens' audience (the `resource` a client asks for, RFC 8707). `http` is taken
    /// too, for development on loopback and for servers behind a proxy that ends TLS;
    /// user information, a missing host and any other scheme are refused.
    ///
    /// ```
    /// use portcullis_axum::ProtectedResource;
    ///
    /// assert!(ProtectedResource::new("https://api.example").is_ok());
    /// assert!(ProtectedResource::new("http://127.0.0.1:9000/api").is_ok());
    /// for refused in ["/api", "ftp://api.example/", "https://user@api.example/", "https://api.example/a b"] {
    ///     assert!(ProtectedResource::new(refused).is_err(), "{refused}");
    /// }
    /// ```
    pub fn new(resource: impl Into<String>) -> Result<Self, InvalidResource> {
        let resource = resource.into();
        if let Err(why) = check_resource_uri(&resource) {
            return Err(InvalidResource { uri: resource, why });
        }
        Ok(Self {
            metadata_url: metadata_url(&resource),
            metadata_path: metadata_path(&resource),
            resource,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
            strict_audience: false,
        })
    }

    /// Adds an authorization server whose tokens the resource takes, by its issuer
    /// identifier (RFC 9728 §2 `authorization_servers`; for Portcullis, its
    /// `oidc.issuer`). Repeat for several.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if !self.authorization_servers.contains(&issuer) {
            self.authorization_servers.push(issuer);
        }
        self
    }

    /// The scopes clients ask for to use this resource (RFC 9728 §2
    /// `scopes_supported`), in the order given. Replaces any set before.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported.clear();
        for scope in scopes {
            let scope = scope.into();
            if !self.scopes_supported.contains(&scope) {
                self.scopes_supported.push(scope);
            }
        }
        self
    }

    /// A name for people (RFC 9728 §2 `resource_name`): "Human-readable name of the
    /// protected resource intended for display to the end user."
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Whether a token bound to no resource at all is refused too. `false` by default:
    /// tokens issued before resource indicators, or by clients that name no resource,
    /// keep working; a token bound to other resources is refused either way. See
    /// [`audience_admits`].
    pub fn strict_audience(mut self, strict: bool) -> Self {
        self.strict_audience = strict;
        self
    }

    /// The resource URI, as given.
    pub fn uri(&self) -> &str {
        &self.resource
    }

    /// The authorization servers named so far.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// The scopes named by [`scopes_supported`](Self::scopes_supported).
    pub fn scopes(&self) -> &[String] {
        &self.scopes_supported
    }

    /// Whether tokens without an audience are refused.
    pub fn is_strict_audience(&self) -> bool {
        self.strict_audience
    }

    /// Where the metadata document is (RFC 9728 §3.1), named by challenges'
    /// `resource_metadata` (§5.1). See [`metadata_url`].
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The path of [`metadata_url`](Self::metadata_url), which [`router`](Self::router)
    /// serves: from the host's root, whatever the resource's own path.
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The metadata document (RFC 9728 §2). `bearer_methods_supported` says what the
    /// extractors read: the `Authorization` header.
    ///
    /// ```
    /// use portcullis_axum::ProtectedResource;
    ///
    /// let resource = ProtectedResource::new("https://api.example/photos")?
    ///     .authorization_server("https://auth.example/o")
    ///     .scopes_supported(["read", "write"]);
    /// let json = serde_json::to_value(resource.metadata())?;
    /// assert_eq!(
    ///     json,
    ///     serde_json::json!({
    ///         "resource": "https://api.example/photos",
    ///         "authorization_servers": ["https://auth.example/o"],
    ///         "scopes_supported": ["read", "write"],
    ///         "bearer_methods_supported": ["header"],
    ///     })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metadata(&self) -> ResourceMetadata {
        ResourceMetadata {
            resource: self.resource.clone(),
            authorization_servers: self.authorization_servers.clone(),
            scopes_supported: self.scopes_supported.clone(),
            bearer_methods_supported: BEARER_METHODS.iter().map(|m| (*m).to_owned()).collect(),
            resource_name: self.resource_name.clone(),
        }
    }

    /// Whether a token whose audience is `audience` may be used here; see
    /// [`audience_admits`].
    pub fn admits(&self, audience: &[String]) -> bool {
        audience_admits(audience, &self.resource, self.strict_audience)
    }

    /// A router that answers `GET` [`metadata_path`](Self::metadata_path) with the
    /// metadata document (RFC 9728 §3.2: "A successful response MUST use the 200 OK
    /// HTTP status code and return a JSON object using the application/json content
    /// type"), cacheable for an hour. Merge it into the application's router at its
    /// root.
    ///
    /// ```
    /// use axum::body::{to_bytes, Body};
    /// use axum::Router;
    /// use http::{Request, StatusCode};
    /// use portcullis_axum::ProtectedResource;
    /// use tower::ServiceExt; // `oneshot`, to call the router without a server
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let resource = ProtectedResource::new("https://api.example/photos")?
    ///     .authorization_server("https://auth.example/o");
    /// let app: Router = resource.router();
    /// let request = Request::get("/.well-known/oauth-protected-resource/photos").body(Body::empty())?;
    /// let response = app.oneshot(request).await?;
    /// assert_eq!(response.status(), StatusCode::OK);
    /// assert_eq!(response.headers()["content-type"], "application/json");
    /// let document: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), 4096).await?)?;
    /// // RFC 9728 §3.3: "The "resource" value returned MUST be identical to the
    /// // protected resource's resource identifier value into which the well-known URI
    /// // path suffix was inserted to create the URL used to retrieve the metadata."
    /// assert_eq!(document["resource"], "https://api.example/photos");
    /// # Ok(())
    /// # }
    /// ```
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new().route(&self.metadata_path, self.metadata_route())
    }

    /// The route [`router`](Self::router) serves, for a host that mounts it at a path
    /// of its own choosing (such as a router nested below a prefix, whose paths do not
    /// start at the host's root).
    pub fn metadata_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let metadata = self.metadata();
        get(move || {
            let metadata = metadata.clone();
            async move {
                let mut response = Json(metadata).into_response();
                response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(METADATA_MAX_AGE));
                response
            }
        })
    }
}

/// The URL of the metadata of the resource `resource` (RFC 9728 §3.1): "a URL formed by
/// inserting a well-known URI string into the protected resource's resource identifier
/// between the host component and the path and/or query components, if any"; and "If
/// the resource identifier value contains a path or query component, any terminating
/// slash (/) following the host component MUST be removed before inserting /.well-known/
/// and the well-known URI path suffix between the host component and the path and/or
/// query components."
///
/// ```
/// use portcullis_axum::resource::metadata_url;
///
/// assert_eq!(metadata_url("https://api.example/api"), "https://api.example/.well-known/oauth-protected-resource/api");
/// assert_eq!(metadata_url("https://api.example"), "https://api.example/.well-known/oauth-protected-resource");
/// assert_eq!(metadata_url("https://api.example/"), "https://api.example/.well-known/oauth-protected-resource");
/// assert_eq!(
///     metadata_url("https://api.example:8443/v1/photos?tenant=7"),
///     "https://api.example:8443/.well-known/oauth-protected-resource/v1/photos?tenant=7"
/// );
/// ```
pub fn metadata_url(resource: &str) -> String {
    let (origin, rest) = split_resource(resource);
    format!("{origin}{WELL_KNOWN}{rest}")
}

/// The path of [`metadata_url`]: what a router at the host's root serves.
///
/// ```
/// use portcullis_axum::resource::metadata_path;
///
/// assert_eq!(metadata_path("https://api.example/api"), "/.well-known/oauth-protected-resource/api");
/// assert_eq!(metadata_path("https://api.example/?tenant=7"), "/.well-known/oauth-protected-resource");
/// ```
pub fn metadata_path(resource: &str) -> String {
    let (_, rest) = split_resource(resource);
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    format!("{WELL_KNOWN}{path}")
}

/// The resource URI as `scheme://authority` and what follows it (path and query), less
/// the terminating slash that RFC 9728 §3.1 removes.
fn split_resource(resource: &str) -> (&str, &str) {
    let start = resource.find("://").map_or(0, |at| at + "://".len());
    let end = resource[start..].find(['/', '?', '#']).map_or(resource.len(), |at| start + at);
    let (origin, rest) = resource.split_at(end);
    match rest.strip_prefix('/') {
        Some(after) if after.is_empty() || after.starts_with('?') => (origin, after),
        _ => (origin, rest),
    }
}

/// Whether a token bound to the resources `audience` (RFC 8707: the `resource` values
/// it was issued for; empty when it names none) may be used at the resource `resource`.
/// The comparison is exact: no case folding, no trailing-slash equivalence.
///
/// RFC 8707 §2: the authorization server "can use the exact resource value as the
/// audience" of the token, so that it is "accepted only by the resource server it is
/// intended for"; RFC 9068 §4: "The resource server MUST validate that the "aud" claim
/// contains a resource indicator value corresponding to an identifier the resource
/// server expects for itself." A token with no audience says nothing about where it may
/// be used; it is accepted unless `strict`.
///
/// ```
/// use portcullis_axum::resource::audience_admits;
///
/// let api = "https://api.example/api";
/// assert!(audience_admits(&[api.to_owned()], api, false));
/// assert!(!audience_admits(&["https://billing.example/api".to_owned()], api, false));
/// assert!(audience_admits(&[], api, false), "unbound: accepted unless strict");
/// assert!(!audience_admits(&[], api, true));
/// ```
pub fn audience_admits(audience: &[String], resource: &str, strict: bool) -> bool {
    if audience.is_empty() {
        return !strict;
    }
    audience.iter().any(|named| named == resource)
}

/// RFC 9728 §1.2 and RFC 8707 §2: an absolute `https` (or `http`) URL with a host, "MUST
/// NOT include a fragment component", and no user information (a resource is named by
/// where it is, not by who calls it).
fn check_resource_uri(uri: &str) -> Result<(), &'static str> {
    // RFC 3986 §2: unreserved, reserved and percent signs; nothing else may appear.
    let uri_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c);
    if uri.is_empty() || !uri.chars().all(uri_char) {
        return Err("it holds characters a URI cannot");
    }
    if uri.contains('#') {
        return Err("it has a fragment");
    }
    if !uri.starts_with("https://") && !uri.starts_with("http://") {
        return Err("it is not an absolute https:// (or http://) URL");
    }
    let parsed = url::Url::parse(uri).map_err(|_| "it is not a URL")?;
    if parsed.host().is_none() {
        return Err("it has no host");
    }
    let (origin, _) = split_resource(uri);
    if origin.contains('@') {
        return Err("it has user information");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9728_3_1_inserts_the_well_known_string_between_host_and_path() {
        // RFC 9728 §3.1's own example: "https://resource.example.com/resource1" is
        // described at "GET /.well-known/oauth-protected-resource/resource1" on its host.
        let url = metadata_url("https://resource.example.com/resource1");
        assert_eq!(url, "https://resource.example.com/.well-known/oauth-protected-resource/resource1");
        let cases = [
            ("https://api.example/api", "https://api.example/.well-known/oauth-protected-resource/api"),
            ("https://api.example/a/b/", "https://api.example/.well-known/oauth-protected-resource/a/b/"),
            ("https://api.example", "https://api.example/.well-known/oauth-protected-resource"),
            ("https://api.example/", "https://api.example/.well-known/oauth-protected-resource"),
            ("https://api.example?t=1", "https://api.example/.well-known/oauth-protected-resource?t=1"),
            ("https://api.example/?t=1", "https://api.example/.well-known/oauth-protected-resource?t=1"),
            ("http://127.0.0.1:8000/api", "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api"),
            ("https://[::1]:8443/x", "https://[::1]:8443/.well-known/oauth-protected-resource/x"),
        ];
        for (resource, expected) in cases {
            assert_eq!(metadata_url(resource), expected, "{resource}");
        }
        assert_eq!(metadata_path("https://api.example/a?t=1"), "/.well-known/oauth-protected-resource/a");
        assert_eq!(metadata_path("https://api.example"), WELL_KNOWN);
    }

    #[test]
    fn rfc8707_audience_rule() {
        let api = "https://api.example/api";
        let list = |uris: &[&str]| uris.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>();
        // RFC 9068 §4: "The resource server MUST validate that the "aud" claim contains a
        // resource indicator value corresponding to an identifier the resource server
        // expects for itself."
        assert!(audience_admits(&list(&[api]), api, false));
        assert!(audience_admits(&list(&["https://other.example/", api]), api, true));
        assert!(!audience_admits(&list(&["https://other.example/"]), api, false));
        // Exact matches only: a resource is not its neighbour, its parent or its case.
        for near in [
            "https://api.example/api/",
            "https://api.example/ap",
            "https://api.example/api/x",
            "https://API.example/api",
            "https://api.example",
            "http://api.example/api",
        ] {
            assert!(!audience_admits(&list(&[near]), api, false), "{near}");
        }
        // A token bound to nothing: accepted unless the resource asks for strictness.
        assert!(audience_admits(&[], api, false));
        assert!(!audience_admits(&[], api, true));
    }

    #[test]
    fn resource_uris_are_absolute_urls_without_fragment_or_user() {
        for good in ["https://api.example", "https://api.example/api", "http://127.0.0.1:9000/v1?tenant=a"] {
            assert!(ProtectedResource::new(good).is_ok(), "{good}");
        }
        let refused = [
            ("", "it holds characters a URI cannot"),
            ("https://api.example/a\"b", "it holds characters a URI cannot"),
            ("https://api.example/{id}", "it holds characters a URI cannot"),
            ("https://api.example/ caf\u{e9}", "it holds characters a URI cannot"),
            ("https://api.example/api#x", "it has a fragment"),
            ("urn:example:api", "it is not an absolute https:// (or http://) URL"),
            ("HTTPS://api.example/", "it is not an absolute https:// (or http://) URL"),
            ("/api", "it is not an absolute https:// (or http://) URL"),
            ("https://", "it is not a URL"),
            ("https://u:p@api.example/", "it has user information"),
            ("https://@api.example/", "it has user information"),
        ];
        for (uri, why) in refused {
            assert_eq!(ProtectedResource::new(uri).err().map(|e| e.why), Some(why), "{uri}");
        }
    }

    #[test]
    fn metadata_omits_what_has_no_value() {
        // RFC 9728 §3.2: "Parameters with zero values MUST be omitted from the response."
        let bare = ProtectedResource::new("https://api.example/api").map(|r| r.metadata());
        let json = bare.map(|m| serde_json::to_value(m).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"resource": "https://api.example/api", "bearer_methods_supported": ["header"]})
        );
        let named = ProtectedResource::new("https://api.example/api")
            .map(|r| {
                r.authorization_server("https://a.example/o")
                    .authorization_server("https://a.example/o")
                    .scopes_supported(["read", "write", "read"])
                    .resource_name("API")
                    .metadata()
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.authorization_servers, ["https://a.example/o"], "named once");
        assert_eq!(named.scopes_supported, ["read", "write"]);
        assert_eq!(named.resource_name.as_deref(), Some("API"));
    }
}
