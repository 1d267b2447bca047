//! Redirection URIs (RFC 6749 §3.1.2).

use url::Url;

/// Checks a redirection URI an application registers. RFC 6749 §3.1.2: "The redirection
/// endpoint URI MUST be an absolute URI as defined by [RFC3986] Section 4.3. … The
/// endpoint URI MUST NOT include a fragment component." Its scheme must be one the
/// settings allow. Matching at the authorization endpoint is exact string comparison,
/// so the URI is kept exactly as given.
pub fn validate_registered(uri: &str, allowed_schemes: &[String]) -> Result<(), String> {
    if uri.is_empty() || uri.len() > 2048 || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("redirect URI {uri:?} is empty, too long or contains whitespace"));
    }
    let parsed = Url::parse(uri).map_err(|e| format!("redirect URI {uri:?} is not an absolute URI: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain a fragment (RFC 6749 §3.1.2)"));
    }
    if !allowed_schemes.iter().any(|s| s == parsed.scheme()) {
        return Err(format!(
            "redirect URI {uri:?} uses scheme {:?}; allowed: {}",
            parsed.scheme(),
            allowed_schemes.join(", ")
        ));
    }
    if parsed.cannot_be_a_base() || (matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_none()) {
        return Err(format!("redirect URI {uri:?} has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_rules() {
        let schemes = vec!["http".to_owned(), "https".to_owned()];
        assert!(validate_registered("https://app.example/cb?x=1", &schemes).is_ok());
        assert!(validate_registered("http://127.0.0.1:8080/cb", &schemes).is_ok());
        for bad in ["/relative", "https://app.example/cb#frag", "ftp://x/y", "https://a b/", "", "javascript:alert(1)"]
        {
            assert!(validate_registered(bad, &schemes).is_err(), "{bad}");
        }
        assert!(validate_registered("com.example.app:/cb", &["com.example.app".to_owned()]).is_ok());
    }
}
