//! The rules of OpenID Connect RP-Initiated Logout 1.0 (§2, §3): which client a logout
//! request is for, where the browser may go afterwards, and whether the user must
//! confirm. No HTTP here: `pages::logout` does that.

use url::Url;

use super::keys::IdTokenIdentity;
use crate::store::Application;

/// A checked logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// The client the request is for, from `id_token_hint` or `client_id`.
    pub client: Option<Application>,
    /// Where to send the browser once done: the registered `post_logout_redirect_uri`
    /// with `state` added, if the request gave one.
    pub redirect: Option<String>,
    /// The user the `id_token_hint` names.
    pub hinted_subject: Option<String>,
}

/// What the parameters of a request are, once the hint has been verified (`hint` is
/// `Some(None)` for a hint that did not verify) and `client_id` looked up.
pub struct LogoutParams<'a> {
    pub hint: Option<Option<IdTokenIdentity>>,
    pub client_id: Option<&'a str>,
    /// The application the request names (by `client_id`, else by the hint's audience).
    pub client: Option<Application>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// Checks a logout request. The error is a sentence for an error page: a request that
/// fails is never redirected (§3: the OP "MUST NOT perform post-logout redirection"
/// to a URI that was not registered for the client).
pub fn validate(params: LogoutParams<'_>) -> Result<LogoutRequest, String> {
    let hint = match params.hint {
        Some(None) => return Err("The id_token_hint is not an ID token this server issued.".into()),
        Some(Some(identity)) => Some(identity),
        None => None,
    };
    // §2: "When both client_id and id_token_hint are present, the OP MUST verify that
    // the Client Identifier matches the one used when issuing the ID Token."
    if let (Some(hint), Some(client_id)) = (&hint, params.client_id) {
        if hint.client_id != client_id {
            return Err("The client_id does not match the id_token_hint.".into());
        }
    }
    if params.client.is_none() && (params.client_id.is_some() || hint.is_some()) {
        return Err("The request names an unknown client.".into());
    }
    let redirect = match params.post_logout_redirect_uri {
        None => None,
        Some(uri) => {
            // §3: "The OP MUST NOT perform post-logout redirection if the
            // post_logout_redirect_uri value supplied does not exactly match one of the
            // previously registered post_logout_redirect_uris values", and it must know
            // the client to know which those are.
            let Some(client) = &params.client else {
                return Err("A post_logout_redirect_uri needs an id_token_hint or a client_id.".into());
            };
            if !client.settings.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Err("The post_logout_redirect_uri is not registered for this client.".into());
            }
            let mut url = Url::parse(uri).map_err(|_| "The post_logout_redirect_uri is not a URL.".to_owned())?;
            if let Some(state) = params.state {
                // §3: "state … the OP passes this value to the RP using the state
                // parameter when redirecting the User Agent back to the RP."
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(String::from(url))
        }
    };
    Ok(LogoutRequest { client: params.client, redirect, hinted_subject: hint.map(|h| h.subject) })
}

impl LogoutRequest {
    /// Whether to ask the person before acting. Portcullis asks, unless the hint vouches
    /// for the request, which a page elsewhere could not forge (it would need an ID
    /// token the server issued to the client).
    ///
    /// Someone logged in: §2: "the OP MUST ask the End-User this question if an
    /// id_token_hint was not provided or if the supplied ID Token does not belong to
    /// the current OP session with the RP and/or currently logged in End-User."
    ///
    /// Nobody logged in, there is no session to end, but a redirect is still asked
    /// for: §3: "An id_token_hint carrying an ID Token for the RP is also RECOMMENDED
    /// when requesting post-logout redirection; if it is not supplied with
    /// post_logout_redirect_uri, the OP MUST NOT perform post-logout redirection unless
    /// the OP has other means of confirming the legitimacy of the post-logout
    /// redirection target." A `client_id` is no such means: anyone who can register an
    /// application can register any URI, and the server would send strangers there on
    /// a link from anywhere. The person's own confirmation, on a page naming the host
    /// ([`LogoutRequest::destination`]), is.
    pub fn needs_confirmation(&self, logged_in: Option<i64>) -> bool {
        match logged_in {
            None => self.redirect.is_some() && self.hinted_subject.is_none(),
            Some(user_id) => self.hinted_subject.as_deref() != Some(user_id.to_string().as_str()),
        }
    }

    /// The host (and port, if not the scheme's default) the redirect would take the
    /// browser to, for the confirmation page to name.
    pub fn destination(&self) -> Option<String> {
        let url = Url::parse(self.redirect.as_deref()?).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientType, GrantType, SigningAlgorithm};
    use crate::store::ApplicationSettings;

    fn app() -> Application {
        Application {
            id: 3,
            client_id: "rp".into(),
            client_secret_hash: None,
            settings: ApplicationSettings {
                name: "RP".into(),
                client_type: ClientType::Public,
                grant_types: vec![GrantType::AuthorizationCode],
                redirect_uris: vec!["https://rp.example/cb".into()],
                post_logout_redirect_uris: vec!["https://rp.example/bye?x=1".into()],
                allowed_origins: vec![],
                allowed_scopes: None,
                skip_authorization: false,
                algorithm: SigningAlgorithm::Rs256,
                access_token_format: crate::proto::AccessTokenFormat::Opaque,
                resource_server_uris: vec![],
            },
            owner_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn hint(client_id: &str) -> Option<Option<IdTokenIdentity>> {
        Some(Some(IdTokenIdentity { subject: "7".into(), client_id: client_id.into() }))
    }

    fn params<'a>() -> LogoutParams<'a> {
        LogoutParams { hint: None, client_id: None, client: None, post_logout_redirect_uri: None, state: None }
    }

    #[test]
    fn registered_uri_gets_the_state_added() {
        let request = validate(LogoutParams {
            hint: hint("rp"),
            client: Some(app()),
            post_logout_redirect_uri: Some("https://rp.example/bye?x=1"),
            state: Some("a b"),
            ..params()
        })
        .unwrap();
        assert_eq!(request.redirect.as_deref(), Some("https://rp.example/bye?x=1&state=a+b"));
        assert_eq!(request.hinted_subject.as_deref(), Some("7"));
    }

    #[test]
    fn unregistered_or_unanchored_uris_and_mismatched_clients_are_refused() {
        let uri = Some("https://rp.example/bye");
        let not_exact = LogoutParams { client: Some(app()), post_logout_redirect_uri: uri, ..params() };
        assert!(validate(not_exact).unwrap_err().contains("not registered"));
        let no_client = LogoutParams { post_logout_redirect_uri: Some("https://rp.example/bye?x=1"), ..params() };
        assert!(validate(no_client).unwrap_err().contains("needs an id_token_hint or a client_id"));
        let mismatch = LogoutParams { hint: hint("rp"), client_id: Some("other"), client: Some(app()), ..params() };
        assert!(validate(mismatch).unwrap_err().contains("does not match"));
        assert!(validate(LogoutParams { hint: Some(None), ..params() }).unwrap_err().contains("id_token_hint"));
        let unknown = LogoutParams { client_id: Some("ghost"), ..params() };
        assert!(validate(unknown).unwrap_err().contains("unknown client"));
        // Nothing at all is a valid request: log out, then say so on a page.
        assert_eq!(validate(params()).unwrap().redirect, None);
    }

    #[test]
    fn confirmation_unless_the_hint_names_the_user() {
        let hinted = validate(LogoutParams { hint: hint("rp"), client: Some(app()), ..params() }).unwrap();
        assert!(!hinted.needs_confirmation(Some(7)));
        assert!(hinted.needs_confirmation(Some(8)));
        assert!(!hinted.needs_confirmation(None), "nobody to log out");
        assert!(validate(params()).unwrap().needs_confirmation(Some(7)));
    }

    /// §3: without a hint, no post-logout redirection unless the OP has "other means of
    /// confirming the legitimacy of the post-logout redirection target": for a visitor
    /// who is not logged in, that is asking them too.
    #[test]
    fn a_redirect_without_a_hint_is_asked_about_even_with_nobody_logged_in() {
        let uri = Some("https://rp.example/bye?x=1");
        let by_client_id =
            LogoutParams { client_id: Some("rp"), client: Some(app()), post_logout_redirect_uri: uri, ..params() };
        let request = validate(by_client_id).unwrap();
        assert!(request.needs_confirmation(None));
        assert!(request.needs_confirmation(Some(7)));
        assert_eq!(request.destination().as_deref(), Some("rp.example"));
        let hinted =
            validate(LogoutParams { hint: hint("rp"), client: Some(app()), post_logout_redirect_uri: uri, ..params() });
        assert!(!hinted.unwrap().needs_confirmation(None), "the hint vouches for the redirect");
        let nowhere = validate(LogoutParams { client_id: Some("rp"), client: Some(app()), ..params() }).unwrap();
        assert!(!nowhere.needs_confirmation(None), "nothing to do, nothing to ask");
        assert_eq!(nowhere.destination(), None);
        let mut on_a_port = app();
        on_a_port.settings.post_logout_redirect_uris = vec!["http://127.0.0.1:8080/bye".into()];
        let uri = Some("http://127.0.0.1:8080/bye");
        let request =
            LogoutParams { client_id: Some("rp"), client: Some(on_a_port), post_logout_redirect_uri: uri, ..params() };
        assert_eq!(validate(request).unwrap().destination().as_deref(), Some("127.0.0.1:8080"));
    }
}
