use std::collections::BTreeSet;
use std::fmt;

use http::Method;

/// A set of scope tokens (RFC 6749 §3.3): "a list of space-delimited, case-sensitive
/// strings". Kept sorted so that its string form is canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

/// A scope string that breaks RFC 6749 §3.3's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scope {0:?} is not a valid scope token")]
pub struct InvalidScope(pub String);

impl ScopeSet {
    /// Parses a space-delimited scope string. RFC 6749 §3.3:
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without space,
    /// `"` or `\`. Runs of spaces are tolerated; an empty string is the empty set.
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
    pub fn from_tokens<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn contains_all<'s>(&self, scopes: impl IntoIterator<Item = &'s str>) -> bool {
        scopes.into_iter().all(|s| self.contains(s))
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

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

/// Which scopes a route demands, possibly depending on the HTTP method.
///
/// Declare one with [`require_scopes!`](crate::require_scopes), or use [`ReadWrite`].
pub trait ScopePolicy: Send + Sync + 'static {
    /// Every scope the token must hold for a request with this method.
    fn required(method: &Method) -> &'static [&'static str];
}

/// django-oauth-toolkit's `TokenHasReadWriteScope`: safe methods (`GET`, `HEAD`,
/// `OPTIONS`) need scope `read`, every other method needs `write`.
pub struct ReadWrite;

impl ScopePolicy for ReadWrite {
    fn required(method: &Method) -> &'static [&'static str] {
        if *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS {
            &["read"]
        } else {
            &["write"]
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
            fn required(_: &$crate::__Method) -> &'static [&'static str] {
                &[$($scope),+]
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
        assert_eq!(ReadWrite::required(&Method::GET), &["read"]);
        assert_eq!(ReadWrite::required(&Method::PATCH), &["write"]);
    }
}
