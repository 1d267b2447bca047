//! The parameters of a request to an OAuth endpoint, from an
//! `application/x-www-form-urlencoded` or `application/json` body (or, for GET, the
//! query string), with the rules of RFC 6749 §3.1 and §3.2 applied once, here.

use std::collections::BTreeMap;

use http::header::CONTENT_TYPE;
use http::HeaderMap;

use super::OAuthError;

/// The largest body an OAuth endpoint reads. Real requests are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_PARAMS: usize = 32;
const MAX_VALUE_BYTES: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct Params {
    single: BTreeMap<String, String>,
    /// RFC 8707 §2 `resource`, the one parameter that may repeat: "Multiple resource
    /// parameters MAY be used to indicate that the requested token is intended to be
    /// used at multiple resources."
    resources: Vec<String>,
}

/// The parameter RFC 8707 lets a request repeat.
const RESOURCE: &str = "resource";

impl Params {
    /// Parses a POST body according to its `Content-Type`.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(OAuthError::invalid_request("the request body is too large"));
        }
        let content_type = headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
        let media_type =
            content_type.map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()).unwrap_or_default();
        match media_type.as_str() {
            "application/x-www-form-urlencoded" => Self::from_urlencoded(body),
            "application/json" => Self::from_json(body),
            "" if body.is_empty() => Ok(Self::default()),
            _ => Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded or application/json",
            )),
        }
    }

    /// Parses a query string (GET requests to endpoints that allow them).
    pub fn from_query(query: Option<&str>) -> Result<Self, OAuthError> {
        Self::from_urlencoded(query.unwrap_or("").as_bytes())
    }

    fn from_urlencoded(body: &[u8]) -> Result<Self, OAuthError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("the body is not valid UTF-8"));
        }
        let mut params = Self::default();
        for (name, value) in form_urlencoded::parse(body) {
            // Percent-decoded bytes that are not UTF-8 come back with U+FFFD in them.
            if name.contains('\u{fffd}') || value.contains('\u{fffd}') {
                return Err(OAuthError::invalid_request("a parameter is not valid UTF-8"));
            }
            params.insert(name.into_owned(), value.into_owned())?;
        }
        Ok(params)
    }

    /// Parameters a page's form already split into names and values, each name with
    /// every value it was sent with: the rules above apply as to a body.
    pub fn from_fields(fields: BTreeMap<String, Vec<String>>) -> Result<Self, OAuthError> {
        let mut params = Self::default();
        for (name, values) in fields {
            for value in values {
                if name.contains('\u{fffd}') || value.contains('\u{fffd}') {
                    return Err(OAuthError::invalid_request("a parameter is not valid UTF-8"));
                }
                params.insert(name.clone(), value)?;
            }
        }
        Ok(params)
    }

    fn from_json(body: &[u8]) -> Result<Self, OAuthError> {
        let JsonPairs(pairs) =
            serde_json::from_slice(body).map_err(|_| OAuthError::invalid_request("the body is not a JSON object"))?;
        let mut params = Self::default();
        for (name, value) in pairs {
            match value {
                serde_json::Value::String(s) => params.insert(name, s)?,
                // A null member is a parameter without a value: omitted, but still there
                // to be repeated.
                serde_json::Value::Null => params.insert(name, String::new())?,
                _ => return Err(OAuthError::invalid_request(format!("parameter {name} must be a string"))),
            }
        }
        Ok(params)
    }

    fn insert(&mut self, name: String, value: String) -> Result<(), OAuthError> {
        if self.single.len() + self.resources.len() >= MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        if name.len() > 64 || value.len() > MAX_VALUE_BYTES {
            return Err(OAuthError::invalid_request("a parameter is too long"));
        }
        // RFC 6749 Appendix A: no parameter's syntax admits a control character but TAB
        // (in usernames and passwords). A NUL would also reach PostgreSQL, whose text
        // cannot hold one, and fail the request with a 500.
        if name.chars().chain(value.chars()).any(|c| c.is_ascii_control() && c != '\t') {
            return Err(OAuthError::invalid_request("a parameter holds a control character"));
        }
        // RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included
        // more than once", even when one of them is empty: `a=&a=x` is refused like
        // `a=x&a=`, so that no reader, ours or one in front of us, can take another of
        // the two for the parameter.
        if name == RESOURCE {
            if !value.is_empty() {
                self.resources.push(value);
            }
            return Ok(());
        }
        if self.single.contains_key(&name) {
            return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
        }
        self.single.insert(name, value);
        Ok(())
    }

    /// RFC 6749 §3.1 and §3.2: "Parameters sent without a value MUST be treated as if
    /// they were omitted from the request."
    pub fn get(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// Every `resource` value the request carries (RFC 8707), in order; empty ones are
    /// omitted, as for [`Params::get`]. They are checked by [`Resources::parse`](crate::proto::Resources::parse).
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(String::as_str)
    }

    /// Every parameter that has a value, by name.
    #[cfg_attr(not(feature = "fuzzing"), expect(dead_code, reason = "read by the fuzz targets only"))]
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let single = self.single.iter().filter(|(_, value)| !value.is_empty());
        single
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain(self.resources().map(|value| (RESOURCE, value)))
    }

    /// A parameter the request must carry.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| missing(name))
    }

    /// Takes a parameter's value out, for a typed request to own; an empty one is
    /// omitted, as for [`Params::get`].
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.single.remove(name).filter(|value| !value.is_empty())
    }

    /// Takes out a parameter the request must carry.
    pub fn take_required(&mut self, name: &'static str) -> Result<String, OAuthError> {
        self.take(name).ok_or_else(|| missing(name))
    }
}

fn missing(name: &str) -> OAuthError {
    OAuthError::invalid_request(format!("missing parameter: {name}"))
}

/// A JSON object's members in order, duplicates kept, so repeats can be refused (a
/// plain map would silently keep the last one).
struct JsonPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    if pairs.len() > MAX_PARAMS {
                        return Err(serde::de::Error::custom("too many members"));
                    }
                    pairs.push(pair);
                }
                Ok(JsonPairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn form() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"));
        h
    }

    #[test]
    fn forms_and_json() {
        let p = Params::from_body(&form(), b"grant_type=password&username=a+b&scope=").unwrap_or_default();
        assert_eq!(p.get("username"), Some("a b"));
        assert_eq!(p.get("scope"), None, "empty means omitted (RFC 6749 §3.1)");
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let p = Params::from_body(&h, br#"{"grant_type":"password","x":null}"#).unwrap_or_default();
        assert_eq!(p.get("grant_type"), Some("password"));
    }

    #[test]
    fn rejects_what_rfc6749_forbids() {
        assert!(Params::from_body(&form(), b"a=1&a=2").is_err());
        // An empty one counts too, first or last, and a JSON null (the token_request fuzz
        // target's own reading of the form checks this).
        assert!(Params::from_body(&form(), b"a=&a=2").is_err());
        assert!(Params::from_body(&form(), b"a=2&a=").is_err());
        assert!(Params::from_body(&form(), b"a=%FF").is_err());
        // RFC 6749 Appendix A (found by the hostile-request table: a NUL in client_id was
        // a 500 on PostgreSQL).
        for control in [&b"client_id=a%00b"[..], b"state=a%0D%0Ab", b"a%7F=1", b"username=a%1Bb"] {
            assert!(Params::from_body(&form(), control).is_err(), "{control:?}");
        }
        assert!(Params::from_body(&form(), b"password=a%09b").is_ok(), "TAB is allowed in a password");
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(Params::from_body(&h, br#"{"a":1}"#).is_err());
        assert!(Params::from_body(&h, br#"[1]"#).is_err());
        assert!(Params::from_body(&h, br#"{"a":"1","a":"2"}"#).is_err(), "repeated JSON members too");
        assert!(Params::from_body(&h, br#"{"a":null,"a":"2"}"#).is_err());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(Params::from_body(&h, b"a=1").is_err());
        assert!(Params::from_body(&HeaderMap::new(), b"").is_ok());
        assert!(Params::from_body(&form(), &vec![b'a'; MAX_BODY_BYTES + 1]).is_err());
    }

    #[test]
    fn resource_may_repeat() {
        // RFC 8707 §2: "Multiple resource parameters MAY be used to indicate that the
        // requested token is intended to be used at multiple resources."
        let body = b"resource=https%3A%2F%2Fa.example%2F&scope=read&resource=&resource=urn%3Ab";
        let p = Params::from_body(&form(), body).unwrap_or_default();
        assert_eq!(p.resources().collect::<Vec<_>>(), ["https://a.example/", "urn:b"], "the empty one is omitted");
        assert_eq!(p.get("scope"), Some("read"));
        assert_eq!(p.get("resource"), None, "read only as a list");
        // They count towards the limit on parameters.
        let many = vec!["resource=urn:x"; MAX_PARAMS + 1].join("&");
        assert!(Params::from_body(&form(), many.as_bytes()).is_err());
    }
}
