//! Resource indicators (RFC 8707): the URIs of the protected resources a client wants
//! a token for, and the rule for narrowing a grant's resources at the token endpoint.

use std::collections::BTreeSet;
use std::fmt;

/// The most resources one request may name. RFC 8707 lets `resource` repeat; a token
/// for more APIs than this is a token that should have been several.
pub const MAX_RESOURCES: usize = 10;

/// Why a `resource` value was refused (RFC 8707 §2: `invalid_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidResource {
    /// Not an absolute URI (a relative reference, or not a URI at all).
    NotAbsolute,
    /// It has a fragment component.
    Fragment,
    /// More than [`MAX_RESOURCES`] of them.
    TooMany,
}

impl InvalidResource {
    /// The `error_description` for the client developer.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotAbsolute => "resource must be an absolute URI",
            Self::Fragment => "resource must not include a fragment",
            Self::TooMany => "too many resource parameters",
        }
    }
}

/// One resource indicator, as the client spelled it: compared exactly, never
/// normalised, so the audience a resource server checks is the string it was given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceUri(String);

impl ResourceUri {
    /// RFC 8707 §2: "Its value MUST be an absolute URI, as specified by Section 4.3 of
    /// [RFC3986]. The URI MAY include a query component, but it MUST NOT include a
    /// fragment component."
    pub fn parse(raw: &str) -> Result<Self, InvalidResource> {
        // RFC 3986 has no place for spaces, controls or these delimiters; the URL parser
        // would quietly drop or escape some of them, and the stored list is
        // space-separated.
        if raw.is_empty() || raw.chars().any(|c| !c.is_ascii_graphic() || "\"<>\\^`{|}".contains(c)) {
            return Err(InvalidResource::NotAbsolute);
        }
        if raw.contains('#') {
            return Err(InvalidResource::Fragment);
        }
        // absolute-URI = scheme ":" hier-part [ "?" query ]; the parser refuses
        // relative references ("/api", "//host/api", "api").
        match url::Url::parse(raw) {
            Ok(_) => Ok(Self(raw.to_owned())),
            Err(_) => Err(InvalidResource::NotAbsolute),
        }
    }

    /// The URI as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of resource indicators: what a grant was authorized for, or what an access
/// token is bound to (its audience). Empty means none was named: the grant, and its
/// tokens, are not bound to any one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources(BTreeSet<ResourceUri>);

/// A token request asked for a resource its grant does not cover (RFC 8707 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotGranted(pub ResourceUri);

impl Resources {
    /// The `resource` values of one request, each checked; repeats collapse.
    pub fn parse<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidResource> {
        let mut set = BTreeSet::new();
        for value in raw {
            set.insert(ResourceUri::parse(value)?);
            if set.len() > MAX_RESOURCES {
                return Err(InvalidResource::TooMany);
            }
        }
        Ok(Self(set))
    }

    /// A list as the store keeps it, space-separated. The values were checked when they
    /// were stored.
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.split(' ').filter(|s| !s.is_empty()).map(|s| ResourceUri(s.to_owned())).collect())
    }

    /// Whether no resource was named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `uri` is one of them, exactly.
    pub fn contains(&self, uri: &str) -> bool {
        self.0.iter().any(|r| r.as_str() == uri)
    }

    /// Each URI, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(ResourceUri::as_str)
    }

    /// Every URI of either set.
    pub fn union(&self, other: &Resources) -> Resources {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The URIs, owned, as the resource-server kit and the JWT `aud` take them.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    /// The first of them not in `allowed`, if `allowed` is a limit at all (`[oauth2]
    /// allowed_resources`; empty: any resource may be asked for).
    pub fn first_not_allowed(&self, allowed: &[String]) -> Option<&ResourceUri> {
        if allowed.is_empty() {
            return None;
        }
        self.0.iter().find(|r| !allowed.iter().any(|a| a == r.as_str()))
    }

    /// What a token request for `requested` gets from a grant authorized for `self`
    /// (RFC 8707 §2.2: the requested resources must be ones "the client is permitted to
    /// access" under the grant). Asking for none gets the grant's own; a grant bound to
    /// resources gives any subset of them and nothing else; an unbound grant may be
    /// bound now, which narrows where its tokens work.
    pub fn narrow(&self, requested: &Resources) -> Result<Resources, NotGranted> {
        if requested.is_empty() {
            return Ok(self.clone());
        }
        if self.is_empty() {
            return Ok(requested.clone());
        }
        match requested.0.iter().find(|r| !self.0.contains(*r)) {
            Some(outside) => Err(NotGranted(outside.clone())),
            None => Ok(requested.clone()),
        }
    }
}

/// Space-separated, as stored (and as `scope` is written).
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, uri) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(uri.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uris: &[&str]) -> Resources {
        Resources::parse(uris.iter().copied()).unwrap_or_default()
    }

    #[test]
    fn absolute_uris_without_fragments() {
        // RFC 8707 §2: "Its value MUST be an absolute URI ... The URI MAY include a
        // query component, but it MUST NOT include a fragment component."
        for good in
            ["https://api.example/", "https://api.example/v1?tenant=3", "urn:example:api", "http://127.0.0.1:9/x"]
        {
            assert_eq!(ResourceUri::parse(good).map(|r| r.as_str().to_owned()), Ok(good.to_owned()), "{good}");
        }
        assert_eq!(ResourceUri::parse("https://api.example/#top"), Err(InvalidResource::Fragment));
        assert_eq!(ResourceUri::parse("https://api.example/#"), Err(InvalidResource::Fragment), "an empty one too");
        for bad in
            ["/api", "//api.example/x", "api", "", " https://api.example/", "https://api.example/a b", "https://a\n"]
        {
            assert_eq!(ResourceUri::parse(bad), Err(InvalidResource::NotAbsolute), "{bad:?}");
        }
    }

    #[test]
    fn repeats_collapse_and_the_count_is_bounded() {
        let two = set(&["https://b.example/", "https://a.example/", "https://b.example/"]);
        assert_eq!(two.to_string(), "https://a.example/ https://b.example/");
        assert_eq!(Resources::from_stored(&two.to_string()), two, "stored and read back");
        assert_eq!(Resources::from_stored(""), Resources::default());
        let many: Vec<String> = (0..=MAX_RESOURCES).map(|i| format!("https://{i}.example/")).collect();
        assert_eq!(Resources::parse(many.iter().map(String::as_str)), Err(InvalidResource::TooMany));
    }

    #[test]
    fn a_token_request_may_narrow_its_grant_but_never_widen_it() {
        let ab = set(&["https://a.example/", "https://b.example/"]);
        let a = set(&["https://a.example/"]);
        let c = set(&["https://c.example/"]);
        assert_eq!(ab.narrow(&Resources::default()), Ok(ab.clone()), "none asked: the grant's own");
        assert_eq!(ab.narrow(&a), Ok(a.clone()));
        assert_eq!(a.narrow(&ab), Err(NotGranted(ResourceUri("https://b.example/".into()))));
        assert!(ab.narrow(&c).is_err());
        assert_eq!(Resources::default().narrow(&c), Ok(c.clone()), "an unbound grant may be bound");
        // Exact comparison: a trailing slash is another resource.
        assert!(set(&["https://a.example"]).narrow(&a).is_err());
    }

    #[test]
    fn an_allow_list_limits_what_may_be_asked() {
        let ab = set(&["https://a.example/", "https://b.example/"]);
        assert_eq!(ab.first_not_allowed(&[]), None, "empty: any");
        let allowed = ["https://a.example/".to_owned()];
        assert_eq!(ab.first_not_allowed(&allowed).map(ResourceUri::as_str), Some("https://b.example/"));
        assert_eq!(set(&["https://a.example/"]).first_not_allowed(&allowed), None);
    }
}
