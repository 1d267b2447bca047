//! The PKCE transformation a client names (RFC 7636 §4.3).

use std::fmt;

/// RFC 7636 §4.2's transformations from verifier to challenge. A code issued without
/// PKCE has none: it is an `Option<CodeChallengeMethod>` wherever a code is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeChallengeMethod {
    /// `code_challenge = code_verifier`.
    Plain,
    /// `code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
    S256,
}

impl CodeChallengeMethod {
    /// Every method, as discovery lists them (`code_challenge_methods_supported`).
    pub const ALL: [CodeChallengeMethod; 2] = [Self::S256, Self::Plain];

    /// The parameter of an authorization request. RFC 7636 §4.3: "code_challenge_method:
    /// OPTIONAL, defaults to "plain" if not present in the request." Names are
    /// case-sensitive: `s256` is not a method.
    pub fn from_param(value: Option<&str>) -> Option<Self> {
        match value {
            None => Some(Self::Plain),
            Some(name) => Self::parse(name),
        }
    }

    /// The method `name` spells, exactly.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The name on the wire and as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::S256 => "S256",
        }
    }
}

impl fmt::Display for CodeChallengeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_means_plain_and_names_are_case_sensitive() {
        assert_eq!(CodeChallengeMethod::from_param(None), Some(CodeChallengeMethod::Plain));
        assert_eq!(CodeChallengeMethod::from_param(Some("S256")), Some(CodeChallengeMethod::S256));
        assert_eq!(CodeChallengeMethod::from_param(Some("plain")), Some(CodeChallengeMethod::Plain));
        assert_eq!(CodeChallengeMethod::from_param(Some("s256")), None);
        assert_eq!(CodeChallengeMethod::from_param(Some("")), None);
    }
}
