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
            if !client.post_logout_redirect_uris.iter().any(|r| r == uri) {
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
    /// §2: "At the Logout Endpoint, the OP SHOULD ask the End-User whether to log out of
    /// the OP as well." Portcullis asks, unless the hint shows the client acts for the
    /// user who is logged in, which a page elsewhere could not forge (it would need
    /// the user's ID token): then a forged request cannot log anyone out.
    pub fn needs_confirmation(&self, logged_in: Option<i64>) -> bool {
        match logged_in {
            None => false,
            Some(user_id) => self.hinted_subject.as_deref() != Some(user_id.to_string().as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClientType, GrantType};

    fn app() -> Application {
        Application {
            id: 3,
            client_id: "rp".into(),
            client_secret_hash: None,
            name: "RP".into(),
            client_type: ClientType::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec!["https://rp.example/bye?x=1".into()],
            allowed_origins: vec![],
            allowed_scopes: None,
            skip_authorization: false,
            algorithm: "RS256".into(),
            access_token_format: crate::store::AccessTokenFormat::Opaque,
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
}
