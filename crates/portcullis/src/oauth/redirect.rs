//! Redirection URIs (RFC 6749 §3.1.2): which may be registered, how a request's is
//! matched against them (exactly, but for the port of a loopback URI, RFC 8252 §7.3),
//! and which may carry answers (RFC 9700 §2.6).

use url::{Host, Url};

use crate::config::OAuth2Settings;

/// Checks a redirection URI an application registers. RFC 6749 §3.1.2: "The redirection
/// endpoint URI MUST be an absolute URI as defined by [RFC3986] Section 4.3. … The
/// endpoint URI MUST NOT include a fragment component." Its scheme must be one the
/// settings allow. Matching at the authorization endpoint is exact string comparison
/// (but for a loopback URI's port, [`Policy::matches`]), so the URI is kept exactly as
/// given.
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

/// How redirection URIs are matched and which may be used, from `[oauth2]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `allow_localhost_loopback`: `http://localhost` is loopback too, as the IP
    /// literals always are.
    pub localhost_is_loopback: bool,
    /// `compliant_bcp_rfc9700_redirect_uri_scheme`: plain `http` on loopback only.
    pub https_unless_loopback: bool,
}

impl Policy {
    /// The policy `settings` set.
    pub fn of(settings: &OAuth2Settings) -> Self {
        Self {
            localhost_is_loopback: settings.allow_localhost_loopback,
            https_unless_loopback: settings.compliant_bcp_rfc9700_redirect_uri_scheme,
        }
    }

    /// Whether a request's `requested` URI stands for the registered `registered`. RFC 6749
    /// §3.1.2.3: "the authorization server MUST compare the two URIs using simple
    /// string comparison as defined in [RFC3986] Section 6.2.1", with one exception,
    /// RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at
    /// the time of the request for loopback IP redirect URIs, to accommodate clients
    /// that obtain an available ephemeral port from the operating system at the time of
    /// the request." So a loopback URI may differ in its port, and in nothing else:
    /// the scheme, host, path and query are still compared as strings.
    pub fn matches(self, registered: &str, requested: &str) -> bool {
        if registered == requested {
            return true;
        }
        match (self.loopback(registered), self.loopback(requested)) {
            (Some(registered), Some(requested)) => registered == requested,
            _ => false,
        }
    }

    /// `uri` without its port, when it is a loopback redirection URI (RFC 8252 §7.3):
    /// "Loopback redirect URIs use the "http" scheme and are constructed with the
    /// loopback IP literal and whatever port the client is listening on. That is,
    /// "http://127.0.0.1:{port}/{path}" for IPv4, and "http://[::1]:{port}/{path}" for
    /// IPv6." Read from the string as written, without normalising it: anything else
    /// (another spelling of the address, user information, an empty or out-of-range
    /// port) is not loopback, so it is matched exactly.
    fn loopback(self, uri: &str) -> Option<Loopback<'_>> {
        let after_scheme = uri.strip_prefix("http://")?;
        let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(end);
        let hosts: &[&str] = if self.localhost_is_loopback { &LOOPBACK_HOSTS } else { &LOOPBACK_HOSTS[..2] };
        let host = hosts.iter().find(|host| authority.starts_with(**host))?;
        match &authority[host.len()..] {
            "" => {}
            port => {
                let digits = port.strip_prefix(':')?;
                // A port in its canonical decimal form, 1 to 65535.
                let number = digits.parse::<u16>().ok().filter(|n| *n != 0)?;
                if number.to_string() != digits {
                    return None;
                }
            }
        }
        Some(Loopback { host, rest })
    }

    /// Whether `uri` may carry authorization responses. RFC 9700 §2.6: "Authorization
    /// responses MUST NOT be transmitted over unencrypted network connections. To this
    /// end, authorization servers MUST NOT allow redirect URIs that use the "http"
    /// scheme except for native clients that use loopback interface redirection as
    /// described in Section 7.3 of [RFC8252]." Enforced while
    /// `compliant_bcp_rfc9700_redirect_uri_scheme` is on; other schemes are
    /// `allowed_redirect_uri_schemes`' business.
    pub fn check_transport(self, uri: &str) -> Result<(), String> {
        let plain_http = Url::parse(uri).is_ok_and(|u| u.scheme() == "http");
        if !self.https_unless_loopback || !plain_http || self.loopback(uri).is_some() {
            return Ok(());
        }
        let localhost = if self.localhost_is_loopback { ", http://localhost" } else { "" };
        Err(format!(
            "redirect URI {uri:?} uses plain http, which this server accepts only on loopback \
             (http://127.0.0.1, http://[::1]{localhost}) (RFC 9700 §2.6); use https"
        ))
    }
}

/// The hosts of loopback redirection URIs: RFC 8252 §7.3's IP literals, then
/// `localhost` (§8.3: "NOT RECOMMENDED"), which only `allow_localhost_loopback` admits.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// A loopback redirection URI with its port left out.
#[derive(Debug, PartialEq, Eq)]
struct Loopback<'a> {
    host: &'a str,
    /// The path, query and whatever else follows the authority, as written.
    rest: &'a str,
}

/// The redirection URI an authorization request gets answered at, and whether the
/// request named it (then the token request must name it too, RFC 6749 §4.1.3).
/// RFC 6749 §3.1.2.3: "If multiple redirection URIs have been registered, … the client
/// MUST include a redirection URI with the authorization request"; when it names one,
/// it must match a registered one ([`Policy::matches`]: exactly, but for the port of a
/// loopback URI). The URI kept is the one the request named, port and all: the answer
/// goes there, and the token request must repeat it. An error is a sentence for the
/// error page: such a request is never redirected, nor one whose URI the policy no
/// longer trusts ([`Policy::check_transport`], for applications registered before).
pub fn select(registered: &[String], requested: Option<&str>, policy: Policy) -> Result<(String, bool), &'static str> {
    let selected = match requested {
        Some(uri) if registered.iter().any(|r| policy.matches(r, uri)) => (uri.to_owned(), true),
        Some(_) => return Err("The redirect_uri is not registered for this client."),
        None => match registered {
            [only] => (only.clone(), false),
            [] => return Err("This client has no registered redirect URI."),
            _ => return Err("The request must name one of the client's redirect URIs."),
        },
    };
    if policy.check_transport(&selected.0).is_err() {
        return Err("The redirect_uri uses plain http, which this server accepts only on loopback (RFC 9700 §2.6).");
    }
    Ok(selected)
}

/// Whether every one of `registered` leads back to the user's own machine (a loopback
/// address or `localhost`, whatever the scheme and the settings): then any program
/// running there could listen on it and receive the answer, and the consent page says
/// so. False when none is registered.
pub fn all_on_this_machine(registered: &[String]) -> bool {
    let local = |uri: &String| match Url::parse(uri).ok().as_ref().and_then(Url::host) {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        // RFC 6761 §6.3: names under "localhost." resolve to loopback addresses.
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    };
    !registered.is_empty() && registered.iter().all(local)
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
        let exact = Policy::default();
        assert_eq!(select(&one, None, exact), Ok(("https://app.example/cb".to_owned(), false)));
        assert_eq!(
            select(&two, Some("https://app.example/other"), exact),
            Ok(("https://app.example/other".to_owned(), true))
        );
        assert!(select(&two, None, exact).is_err(), "RFC 6749 §3.1.2.3: several registered, none named");
        assert!(select(&[], None, exact).is_err());
        // RFC 6749 §3.1.2.2: compared as strings, so none of these is the registered URI.
        for near in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/cb?x=1",
            "https://app.example/%63b",
            "https://app.example./cb",
            "https://app.example/cb#",
            "https://app.example:8443/cb",
        ] {
            assert!(select(&one, Some(near), exact).is_err(), "{near}");
        }
    }

    #[test]
    fn loopback_ip_literals_match_on_any_port() {
        // RFC 8252 §7.3: "The authorization server MUST allow any port to be specified
        // at the time of the request for loopback IP redirect URIs".
        let policy = Policy::default();
        for (registered, requested) in [
            ("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1:51004/cb"),
            ("http://127.0.0.1:8080/cb", "http://127.0.0.1/cb"),
            ("http://[::1]/cb", "http://[::1]:61023/cb"),
            ("http://[::1]:1/oauth2redirect/x?app=1", "http://[::1]:65535/oauth2redirect/x?app=1"),
            ("http://127.0.0.1", "http://127.0.0.1:9"),
        ] {
            assert!(policy.matches(registered, requested), "{registered} {requested}");
            let registered = vec![registered.to_owned()];
            assert_eq!(select(&registered, Some(requested), policy), Ok((requested.to_owned(), true)), "kept as sent");
        }
    }

    #[test]
    fn loopback_uris_differ_in_the_port_and_nothing_else() {
        let policy = Policy::default();
        let registered = "http://127.0.0.1:8080/cb?x=1";
        for other in [
            "http://127.0.0.1:51004/cb?x=2",
            "http://127.0.0.1:51004/cb",
            "http://127.0.0.1:51004/cb/",
            "http://127.0.0.1:51004/CB?x=1",
            "http://[::1]:51004/cb?x=1",
            "http://localhost:51004/cb?x=1",
            "https://127.0.0.1:51004/cb?x=1",
            "HTTP://127.0.0.1:51004/cb?x=1",
            "http://127.0.0.10:51004/cb?x=1",
            "http://127.0.0.1.evil.example:51004/cb?x=1",
            "http://user@127.0.0.1:51004/cb?x=1",
            "http://127.0.0.1@evil.example:51004/cb?x=1",
            "http://127.1:51004/cb?x=1",
            "http://127.0.0.1:/cb?x=1",
            "http://127.0.0.1:0/cb?x=1",
            "http://127.0.0.1:065535/cb?x=1",
            "http://127.0.0.1:65536/cb?x=1",
            "http://127.0.0.1:+80/cb?x=1",
            "http://127.0.0.1:51004/cb?x=1#frag",
        ] {
            assert!(!policy.matches(registered, other), "{other}");
        }
        // Everything but loopback is still an exact match, ports included.
        for (registered, requested) in [
            ("https://app.example/cb", "https://app.example:8443/cb"),
            ("https://127.0.0.1/cb", "https://127.0.0.1:8443/cb"),
            ("http://192.168.1.2/cb", "http://192.168.1.2:8080/cb"),
            ("http://localhost/cb", "http://localhost:8080/cb"),
            ("com.example.app:/cb", "com.example.app:/cb2"),
        ] {
            assert!(!policy.matches(registered, requested), "{registered} {requested}");
        }
    }

    #[test]
    fn localhost_matches_on_any_port_only_when_allowed() {
        let registered = vec!["http://localhost/cb".to_owned()];
        let requested = "http://localhost:5173/cb";
        assert!(select(&registered, Some(requested), Policy::default()).is_err());
        let allowed = Policy { localhost_is_loopback: true, ..Policy::default() };
        assert_eq!(select(&registered, Some(requested), allowed), Ok((requested.to_owned(), true)));
        assert!(!allowed.matches("http://localhost/cb", "http://localhost.example:5173/cb"));
        assert!(!allowed.matches("http://localhost/cb", "http://127.0.0.1:5173/cb"), "another host");
    }

    #[test]
    fn plain_http_only_on_loopback_under_rfc9700() {
        // RFC 9700 §2.6: "authorization servers MUST NOT allow redirect URIs that use the
        // "http" scheme except for native clients that use loopback interface
        // redirection as described in Section 7.3 of [RFC8252]."
        let legacy = Policy::default();
        let bcp = Policy { https_unless_loopback: true, ..Policy::default() };
        let both = Policy { https_unless_loopback: true, localhost_is_loopback: true };
        for uri in ["https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "com.example.app:/cb"] {
            assert!(bcp.check_transport(uri).is_ok(), "{uri}");
        }
        for uri in ["http://app.example/cb", "http://localhost:5173/cb", "http://10.0.0.1/cb", "HTTP://app.example/cb"]
        {
            assert!(legacy.check_transport(uri).is_ok(), "{uri}: the switch is off");
            let error = bcp.check_transport(uri).unwrap_err();
            assert!(error.contains("RFC 9700 §2.6") && error.contains("https"), "{error}");
        }
        assert!(both.check_transport("http://localhost:5173/cb").is_ok());
        assert!(both.check_transport("http://app.example/cb").is_err());
        // At the authorization endpoint, for an application registered before the
        // switch: an error page, never a redirect to the URI.
        let old = vec!["http://app.example/cb".to_owned()];
        assert_eq!(select(&old, None, legacy), Ok(("http://app.example/cb".to_owned(), false)));
        assert!(select(&old, None, bcp).is_err());
        assert!(select(&old, Some("http://app.example/cb"), bcp).is_err());
    }

    #[test]
    fn loopback_warning_needs_every_uri_on_this_machine() {
        let uris = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(all_on_this_machine(&uris(&["http://127.0.0.1/cb"])));
        assert!(all_on_this_machine(&uris(&["http://[::1]:9/cb", "http://localhost:5173/cb", "http://127.0.0.2/x"])));
        assert!(all_on_this_machine(&uris(&["https://app.localhost/cb"])));
        assert!(!all_on_this_machine(&uris(&["http://127.0.0.1/cb", "https://app.example/cb"])));
        assert!(!all_on_this_machine(&uris(&["com.example.app:/cb"])));
        assert!(!all_on_this_machine(&uris(&["http://localhost.example/cb"])));
        assert!(!all_on_this_machine(&[]));
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
