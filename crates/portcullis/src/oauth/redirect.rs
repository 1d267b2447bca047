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

/// The redirection URI an authorization request gets answered at, and whether the
/// request named it (then the token request must name it too, RFC 6749 §4.1.3).
/// RFC 6749 §3.1.2.3: "If multiple redirection URIs have been registered, … the client
/// MUST include a redirection URI with the authorization request"; when it names one,
/// it is compared with the registered ones as strings, exactly: no prefix, no
/// normalisation (RFC 6749 §3.1.2.2 and RFC 3986 §6.2.1's simple string comparison).
/// An error is a sentence for the error page: such a request is never redirected.
pub fn select(registered: &[String], requested: Option<&str>) -> Result<(String, bool), &'static str> {
    match requested {
        Some(uri) if registered.iter().any(|r| r == uri) => Ok((uri.to_owned(), true)),
        Some(_) => Err("The redirect_uri is not registered for this client."),
        None => match registered {
            [only] => Ok((only.clone(), false)),
            [] => Err("This client has no registered redirect URI."),
            _ => Err("The request must name one of the client's redirect URIs."),
        },
    }
}

/// Whether a token request's `redirect_uri` fits the authorization request its code
/// came from. `issued` is the URI the authorization request named, or empty when it
/// named none. RFC 6749 §4.1.3: "ensure that the "redirect_uri" parameter is present if
/// the "redirect_uri" parameter was included in the initial authorization request …,
/// and if included ensure that their values are identical." A request that named none
/// was answered at the client's only registered URI, which the token request may name.
pub fn code_redirect_matches(issued: &str, registered: &[String], given: Option<&str>) -> bool {
    match (issued, given) {
        ("", None) => true,
        ("", Some(given)) => matches!(registered, [only] if only == given),
        (expected, Some(given)) => expected == given,
        (_, None) => false,
    }
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

    #[test]
    fn selection_is_exact_string_comparison() {
        let one = vec!["https://app.example/cb".to_owned()];
        let two = vec!["https://app.example/cb".to_owned(), "https://app.example/other".to_owned()];
        assert_eq!(select(&one, None), Ok(("https://app.example/cb".to_owned(), false)));
        assert_eq!(select(&two, Some("https://app.example/other")), Ok(("https://app.example/other".to_owned(), true)));
        assert!(select(&two, None).is_err(), "RFC 6749 §3.1.2.3: several registered, none named");
        assert!(select(&[], None).is_err());
        // RFC 6749 §3.1.2.2: compared as strings, so none of these is the registered URI.
        for near in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/cb?x=1",
            "https://app.example/%63b",
            "https://app.example./cb",
            "https://app.example/cb#",
        ] {
            assert!(select(&one, Some(near)).is_err(), "{near}");
        }
    }

    #[test]
    fn token_request_names_the_uri_the_code_was_issued_for() {
        let one = vec!["https://app.example/cb".to_owned()];
        let two = vec!["https://app.example/cb".to_owned(), "https://app.example/other".to_owned()];
        assert!(code_redirect_matches("https://app.example/cb", &one, Some("https://app.example/cb")));
        assert!(!code_redirect_matches("https://app.example/cb", &one, None), "named then, so named now");
        assert!(!code_redirect_matches("https://app.example/cb", &two, Some("https://app.example/other")));
        assert!(code_redirect_matches("", &one, None));
        assert!(code_redirect_matches("", &one, Some("https://app.example/cb")));
        assert!(!code_redirect_matches("", &two, Some("https://app.example/cb")), "which one was it?");
        assert!(!code_redirect_matches("", &one, Some("https://app.example/cb/")));
    }
}
