use std::collections::BTreeSet;
use std::fmt;

use http::Method;

/// A set of scope tokens (RFC 6749 §3.3): "a list of space-delimited, case-sensitive
/// strings". Kept sorted so that its string form is canonical.
///
/// ```
/// use portcullis_axum::ScopeSet;
///
/// let granted = ScopeSet::parse("write read").unwrap_or_default();
/// assert_eq!(granted.to_string(), "read write");
/// assert!(granted.contains("read") && !granted.contains("Read"));
/// assert!(ScopeSet::parse("caf\u{e9}").is_err(), "outside RFC 6749's characters");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

/// A scope string that breaks RFC 6749 §3.3's grammar, naming the first token that
/// does; the token endpoint answers it with `invalid_scope`.
///
/// ```
/// use portcullis_axum::scope::{InvalidScope, ScopeSet};
///
/// assert_eq!(ScopeSet::parse(r#"read "admin""#), Err(InvalidScope(r#""admin""#.into())));
/// assert_eq!(InvalidScope("a\\b".into()).to_string(), r#"scope "a\\b" is not a valid scope token"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0:?} is not a valid scope token")]
pub struct InvalidScope(pub String);

impl ScopeSet {
    /// Parses a space-delimited scope string. RFC 6749 §3.3:
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without space,
    /// `"` or `\`. Runs of spaces are tolerated; an empty string is the empty set.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let scope = ScopeSet::parse("  write read  read ")?;
    /// assert_eq!(scope.iter().collect::<Vec<_>>(), ["read", "write"]);
    /// assert!(ScopeSet::parse("")?.is_empty());
    /// assert!(ScopeSet::parse("tab\there").is_err(), "only spaces separate scopes");
    /// # Ok::<(), portcullis_axum::scope::InvalidScope>(())
    /// ```
    pub fn parse(raw: &str) -> Result<Self, InvalidScope> {
        let mut set = BTreeSet::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(InvalidScope(token.to_owned()));
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Builds a set from tokens already known to be valid (configuration, the store).
    /// Nothing is checked: use [`ScopeSet::parse`] for what a client sent.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let configured = vec!["write".to_owned(), "read".to_owned()];
    /// assert_eq!(ScopeSet::from_tokens(configured).to_string(), "read write");
    /// assert_eq!(ScopeSet::from_tokens(["read"]), ScopeSet::parse("read").unwrap_or_default());
    /// ```
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// Whether the set holds `scope` (compared case-sensitively).
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let granted = ScopeSet::from_tokens(["read"]);
    /// assert!(granted.contains("read"));
    /// // RFC 6749 §3.3: scope tokens are case-sensitive.
    /// assert!(!granted.contains("READ"));
    /// ```
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// Whether the set holds every one of `scopes`.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let granted = ScopeSet::from_tokens(["read", "write"]);
    /// assert!(granted.contains_all(["read", "write"]));
    /// assert!(!granted.contains_all(["read", "admin"]));
    /// assert!(granted.contains_all([]), "nothing asked, nothing missing");
    /// ```
    pub fn contains_all<'s>(&self, scopes: impl IntoIterator<Item = &'s str>) -> bool {
        scopes.into_iter().all(|s| self.contains(s))
    }

    /// Whether every scope of this set is in `other`: a refresh may ask for the scopes
    /// first granted or fewer (RFC 6749 §6), never more.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let granted = ScopeSet::from_tokens(["read", "write"]);
    /// assert!(ScopeSet::from_tokens(["read"]).is_subset(&granted));
    /// assert!(!ScopeSet::from_tokens(["read", "admin"]).is_subset(&granted));
    /// ```
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in either set.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let both = ScopeSet::from_tokens(["read"]).union(&ScopeSet::from_tokens(["write", "read"]));
    /// assert_eq!(both.to_string(), "read write");
    /// ```
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    /// The scopes in both sets: what a client may get of what it asked for.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let asked = ScopeSet::from_tokens(["read", "write", "admin"]);
    /// let allowed = ScopeSet::from_tokens(["read", "write", "groups"]);
    /// assert_eq!(asked.intersection(&allowed).to_string(), "read write");
    /// ```
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether the set has no scope at all.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// assert!(ScopeSet::default().is_empty());
    /// assert!(ScopeSet::parse("   ").is_ok_and(|s| s.is_empty()));
    /// assert!(!ScopeSet::from_tokens(["read"]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in sorted order.
    ///
    /// ```
    /// use portcullis_axum::ScopeSet;
    ///
    /// let scope = ScopeSet::from_tokens(["write", "groups", "read"]);
    /// assert_eq!(scope.iter().collect::<Vec<_>>(), ["groups", "read", "write"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
            first = false;
        }
        Ok(())
    }
}

/// Which scopes a route demands, possibly depending on the HTTP method, and possibly
/// with alternatives: django-oauth-toolkit's `TokenMatchesOASRequirements`, whose
/// `required_alternate_scopes` maps each method to a list of scope lists.
///
/// Declare one with [`require_scopes!`](crate::require_scopes), use [`ReadWrite`], or
/// write one by hand:
///
/// ```
/// use http::Method;
/// use portcullis_axum::ScopePolicy;
///
/// /// Reading takes `read`, or `admin`; anything else takes both `write` and `photos`.
/// struct Photos;
///
/// impl ScopePolicy for Photos {
///     fn alternatives(method: &Method) -> &'static [&'static [&'static str]] {
///         match *method {
///             Method::GET | Method::HEAD => &[&["read"], &["admin"]],
///             _ => &[&["write", "photos"]],
///         }
///     }
/// }
///
/// assert_eq!(Photos::alternatives(&Method::GET).len(), 2);
/// ```
pub trait ScopePolicy: Send + Sync + 'static {
    /// The scope sets that let a request with this method through: the token must hold
    /// every scope of at least one of them. The first is the one named in the
    /// `insufficient_scope` challenge (RFC 6750 §3: "the required scope of the access
    /// token").
    ///
    /// ```
    /// use http::Method;
    /// use portcullis_axum::{ReadWrite, ScopePolicy};
    ///
    /// portcullis_axum::require_scopes!(Reports = ["reports", "read"]);
    ///
    /// assert_eq!(Reports::alternatives(&Method::DELETE), [["reports", "read"]]);
    /// assert_eq!(ReadWrite::alternatives(&Method::GET), [["read"]]);
    /// assert_eq!(ReadWrite::alternatives(&Method::DELETE), [["write"]]);
    /// ```
    fn alternatives(method: &Method) -> &'static [&'static [&'static str]];

    /// Whether `scope` satisfies one of the alternatives for `method`.
    ///
    /// ```
    /// use http::Method;
    /// use portcullis_axum::{ReadWrite, ScopePolicy, ScopeSet};
    ///
    /// let read = ScopeSet::parse("read").unwrap_or_default();
    /// assert!(ReadWrite::allows(&Method::GET, &read));
    /// assert!(!ReadWrite::allows(&Method::POST, &read));
    /// ```
    fn allows(method: &Method, scope: &ScopeSet) -> bool {
        Self::alternatives(method).iter().any(|needed| scope.contains_all(needed.iter().copied()))
    }
}

/// django-oauth-toolkit's `TokenHasReadWriteScope`: safe methods (`GET`, `HEAD`,
/// `OPTIONS`) need scope `read`, every other method needs `write`. Use it as
/// [`Scoped<ReadWrite>`](crate::Scoped), whose example shows it in a router.
///
/// ```
/// use http::Method;
/// use portcullis_axum::{ReadWrite, ScopePolicy, ScopeSet};
///
/// let read = ScopeSet::from_tokens(["read"]);
/// for safe in [Method::GET, Method::HEAD, Method::OPTIONS] {
///     assert!(ReadWrite::allows(&safe, &read), "{safe}");
/// }
/// for unsafe_method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
///     assert!(!ReadWrite::allows(&unsafe_method, &read), "{unsafe_method}");
/// }
/// assert!(ReadWrite::allows(&Method::DELETE, &ScopeSet::from_tokens(["write"])));
/// ```
pub struct ReadWrite;

impl ScopePolicy for ReadWrite {
    fn alternatives(method: &Method) -> &'static [&'static [&'static str]] {
        if *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS {
            &[&["read"]]
        } else {
            &[&["write"]]
        }
    }
}

/// Declares a [`ScopePolicy`] that demands the same scopes for every method, the
/// equivalent of django-oauth-toolkit's `TokenHasScope` with `required_scopes`.
///
/// ```
/// portcullis_axum::require_scopes!(pub Groups = ["groups"]);
/// ```
#[macro_export]
macro_rules! require_scopes {
    ($vis:vis $name:ident = [$($scope:literal),+ $(,)?]) => {
        $vis struct $name;
        impl $crate::ScopePolicy for $name {
            fn alternatives(_: &$crate::__Method) -> &'static [&'static [&'static str]] {
                &[&[$($scope),+]]
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_canonicalises() {
        let set = ScopeSet::parse("write  read read").unwrap_or_default();
        assert_eq!(set.to_string(), "read write");
        assert!(ScopeSet::parse("").map(|s| s.is_empty()).unwrap_or(false));
    }

    #[test]
    fn rejects_characters_outside_rfc6749_3_3() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "tab\there"] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn read_write_follows_the_method() {
        assert_eq!(ReadWrite::alternatives(&Method::GET), &[&["read"]]);
        assert_eq!(ReadWrite::alternatives(&Method::PATCH), &[&["write"]]);
    }
}
