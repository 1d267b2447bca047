//! What the authorization endpoint answers with (RFC 6749 §3.1.1; OAuth 2.0 Multiple
//! Response Type Encoding Practices §5).

use std::fmt;

use super::GrantType;

/// What the authorization endpoint answers with: RFC 6749's `code` (§4.1) and `token`
/// (§4.2), and OpenID Connect's combinations with `id_token` (Multiple Response Type
/// Encoding Practices §5; Core §3.2 implicit, §3.3 hybrid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseType {
    /// An authorization code.
    pub code: bool,
    /// An access token.
    pub token: bool,
    /// An OpenID Connect ID token.
    pub id_token: bool,
}

impl ResponseType {
    /// `code`, the authorization code grant's.
    pub const CODE: Self = Self { code: true, token: false, id_token: false };

    /// Every response type served, in the order the metadata documents list them; the
    /// ones with `id_token` only when OpenID Connect is on.
    pub const ALL: [Self; 7] = [
        Self::CODE,
        Self { code: false, token: true, id_token: false },
        Self { code: false, token: false, id_token: true },
        Self { code: false, token: true, id_token: true },
        Self { code: true, token: false, id_token: true },
        Self { code: true, token: true, id_token: false },
        Self { code: true, token: true, id_token: true },
    ];

    /// "The order of the space-delimited values does not matter" (RFC 6749 §3.1.1);
    /// each may appear once, and `none` (which asks for nothing) is not served.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut kind = Self { code: false, token: false, id_token: false };
        for value in raw.split(' ') {
            let seen = match value {
                "code" => &mut kind.code,
                "token" => &mut kind.token,
                "id_token" => &mut kind.id_token,
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
        }
        Some(kind)
    }

    /// The canonical spelling (Multiple Response Type Encoding Practices §5's), for
    /// discovery and for the consent form to post back.
    pub const fn as_str(self) -> &'static str {
        match (self.code, self.id_token, self.token) {
            (true, false, false) => "code",
            (false, false, true) => "token",
            (false, true, false) => "id_token",
            (false, true, true) => "id_token token",
            (true, true, false) => "code id_token",
            (true, false, true) => "code token",
            (true, true, true) => "code id_token token",
            (false, false, false) => "none",
        }
    }

    /// Whether the answer goes in the fragment. Only a lone `code` answers in the
    /// query; everything that carries a token uses the fragment (Multiple Response
    /// Type Encoding Practices §5: "The default Response Mode for this Response Type is
    /// the fragment encoding").
    pub const fn in_fragment(self) -> bool {
        self.token || self.id_token
    }

    /// The grant an application needs for this response type.
    pub const fn grant(self) -> GrantType {
        match (self.code, self.token || self.id_token) {
            (true, false) => GrantType::AuthorizationCode,
            (true, true) => GrantType::OpenidHybrid,
            _ => GrantType::Implicit,
        }
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_type_round_trips_through_its_spelling() {
        for kind in ResponseType::ALL {
            assert_eq!(ResponseType::parse(kind.as_str()), Some(kind), "{kind}");
        }
        assert_eq!(ResponseType::parse("token code").map(ResponseType::as_str), Some("code token"));
        for refused in ["none", "code code", "", "Code", "code  token"] {
            assert_eq!(ResponseType::parse(refused), None, "{refused:?}");
        }
    }
}
