//! The authorization endpoint's rules (RFC 6749 §3.1, §4.1.1, §4.2.1; RFC 7636 §4.3):
//! which requests are valid, which errors may go back to the client and which must not,
//! and what approval produces. No HTTP here: `pages::authorize` does that.

use portcullis_axum::ScopeSet;
use url::Url;

use super::grant::{self, mint, Context, Coverage};
use super::{pkce, redirect, scope, target, EndpointError, Params};
use crate::crypto::Secret;
use crate::hooks::TokenIssued;
use crate::oidc::claims::IdTokenInput;
use crate::proto::{CodeChallengeMethod, Resources, ResponseType, TokenGrant};
use crate::store::{Application, CodeChallenge, Consent, NewCode, Store, StoreError, User};

/// Error codes the authorization endpoint sends back to the client (RFC 6749
/// §4.1.2.1 and §4.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown, or malformed."
    InvalidTarget,
    /// RFC 6749 §4.1.2.1 and §4.2.2.1 define it, but Portcullis never sends it: a
    /// failure of its own shows an error page instead of going back to the client.
    #[expect(dead_code, reason = "kept so that the list is RFC 6749's")]
    ServerError,
    /// OpenID Connect Core §3.1.2.6: "The Authorization Server requires End-User
    /// authentication", and `prompt=none` forbids asking.
    LoginRequired,
    /// Core §3.1.2.6: "The Authorization Server requires End-User consent", and
    /// `prompt=none` forbids asking.
    ConsentRequired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::ServerError => "server_error",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
        }
    }
}

/// A request that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirection URI cannot be trusted: RFC 6749 §4.1.2.1 "the
    /// authorization server SHOULD inform the resource owner of the error and MUST NOT
    /// automatically redirect the user-agent to the invalid redirection URI."
    Page(String),
    /// Any other error goes back to the client at its redirection URI.
    Redirect(Redirect),
}

/// Where to send the browser, with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub redirect_uri: String,
    pub response_type: ResponseType,
    pub params: Vec<(&'static str, String)>,
}

impl Redirect {
    fn error(req: &Target, code: ErrorCode, description: &str) -> Self {
        let description = super::error::wire_description(description).into_owned();
        let mut params = vec![("error", code.as_str().to_owned()), ("error_description", description)];
        if let Some(state) = &req.state {
            params.push(("state", state.clone()));
        }
        Self { redirect_uri: req.redirect_uri.clone(), response_type: req.response_type, params }
    }

    /// The full URI, for the answer of the server whose issuer identifier is `issuer`.
    /// For `code` the parameters join the query, keeping any query the registered URI
    /// has (RFC 6749 §3.1.2: it "MUST be retained when adding additional query
    /// parameters"); for `token` they go in the fragment (§4.2.2). Every answer, success
    /// or error, ends with `iss`, RFC 9207 §2: "In authorization responses to the
    /// client, including error responses, an authorization server supporting this
    /// specification MUST indicate its identity by including the iss parameter in the
    /// response."
    pub fn location(&self, issuer: &str) -> String {
        let Ok(mut url) = Url::parse(&self.redirect_uri) else { return self.redirect_uri.clone() };
        let params = self.params.iter().map(|(name, value)| (*name, value.as_str())).chain([("iss", issuer)]);
        if self.response_type.in_fragment() {
            let fragment = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
            url.set_fragment(Some(&fragment));
        } else {
            url.query_pairs_mut().extend_pairs(params);
        }
        url.into()
    }
}

/// The part of a request known good enough to redirect errors to.
struct Target {
    redirect_uri: String,
    response_type: ResponseType,
    state: Option<String>,
}

/// A valid authorization request, ready for the user's answer.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub app: Application,
    pub response_type: ResponseType,
    pub redirect_uri: String,
    /// Whether the request named the redirect URI (then the token request must too).
    pub redirect_uri_given: bool,
    pub scope: ScopeSet,
    /// The resources the client wants its tokens for (RFC 8707); empty: none named.
    pub resources: Resources,
    pub state: Option<String>,
    pub code_challenge: Option<(String, CodeChallengeMethod)>,
    pub nonce: Option<String>,
    /// django-oauth-toolkit's `approval_prompt=auto`: skip consent already given.
    pub approval_prompt_auto: bool,
    /// OpenID Connect Core §3.1.2.1 `prompt`.
    pub prompt: Prompt,
    /// Core §3.1.2.1 `max_age`: the longest time, in seconds, since the user last
    /// logged in that the client accepts.
    pub max_age: Option<i64>,
    /// Core §3.1.2.1 `id_token_hint`, not yet checked: the caller verifies it (it needs
    /// the signing keys) and passes its subject to [`AuthorizationRequest::next_step`].
    pub id_token_hint: Option<String>,
}

/// OpenID Connect Core §3.1.2.1: "prompt … Space delimited, case sensitive list of
/// ASCII string values that specifies whether the Authorization Server prompts the
/// End-User for reauthentication and consent."
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// "The Authorization Server MUST NOT display any authentication or consent user
    /// interface pages."
    pub none: bool,
    /// "The Authorization Server SHOULD prompt the End-User for reauthentication."
    pub login: bool,
    /// "The Authorization Server SHOULD prompt the End-User for consent before returning
    /// information to the Client."
    pub consent: bool,
}

impl Prompt {
    /// `select_account` is accepted and has nothing to do: a session holds one account.
    pub fn parse(raw: Option<&str>) -> Result<Self, &'static str> {
        let mut prompt = Self::default();
        let Some(raw) = raw else { return Ok(prompt) };
        for value in raw.split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err("prompt has an unknown value"),
            }
        }
        // "If this parameter contains none with any other value, an error is returned."
        if prompt.none && (prompt.login || prompt.consent || raw.split(' ').filter(|v| !v.is_empty()).count() > 1) {
            return Err("prompt=none cannot be combined with other values");
        }
        Ok(prompt)
    }
}

/// What the browser's session says about who is there, for [`AuthorizationRequest::next_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub user_id: i64,
    /// When they logged in; `None` for a session that predates the record.
    pub auth_time: Option<i64>,
}

/// What the authorization endpoint does next with a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Send the user to log in and come back; `again` when they are logged in but must
    /// log in afresh (`prompt=login`, or `max_age` passed).
    Login { again: bool },
    /// Show the consent page.
    Consent,
    /// Answer the client now, without asking.
    Approve,
    /// Answer the client with this error.
    Fail(Redirect),
}

/// Checks an authorization request. `app` is the application `client_id` names, if
/// any; the caller looks it up.
pub fn validate(
    params: Result<Params, super::OAuthError>,
    app: Option<Application>,
    ctx: &Context<'_>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let params = params.map_err(|e| AuthorizeError::Page(e.description.into_owned()))?;
    if params.get("client_id").is_none() {
        return Err(AuthorizeError::Page("The request names no client (client_id is missing).".into()));
    }
    let app = app.ok_or_else(|| AuthorizeError::Page("The request names an unknown client.".into()))?;
    let policy = redirect::Policy::of(&ctx.config.oauth2);
    let (redirect_uri, given) = redirect::select(&app.settings.redirect_uris, params.get("redirect_uri"), policy)
        .map_err(|why| AuthorizeError::Page(why.into()))?;
    // An unknown response type still gets its error at the redirect URI, in the query
    // unless it asked for tokens.
    let response_type = params.get("response_type").and_then(ResponseType::parse);
    let target = Target {
        redirect_uri: redirect_uri.clone(),
        response_type: response_type.unwrap_or(ResponseType::CODE),
        state: params.get("state").map(str::to_owned),
    };
    let fail = |code, description: &str| AuthorizeError::Redirect(Redirect::error(&target, code, description));
    let response_type = match (params.get("response_type"), response_type) {
        (None, _) => return Err(fail(ErrorCode::InvalidRequest, "response_type is missing")),
        (Some(_), None) => {
            return Err(fail(ErrorCode::UnsupportedResponseType, "response_type is not one this server supports"))
        }
        // RFC 9700 §2.1.2, while `compliant_bcp_rfc9700_implicit_grant` is on.
        (Some(_), Some(kind)) if !ctx.config.oauth2.serves_response_type(kind) => {
            let why = "response types that return an access token from the authorization endpoint are not served \
                       (RFC 9700 section 2.1.2); use the code flow";
            return Err(fail(ErrorCode::UnsupportedResponseType, why));
        }
        (Some(_), Some(kind)) => kind,
    };
    if !app.allows_grant(response_type.grant()) {
        let grant = response_type.grant();
        return Err(fail(ErrorCode::UnauthorizedClient, &format!("this client may not use the {grant} grant")));
    }
    let scope = scope::requested(params.get("scope"))
        .and_then(|requested| ctx.scope(requested, &app))
        .map_err(|e| fail(ErrorCode::InvalidScope, &e.description))?;
    // RFC 8707 §2: "If the client omits the resource parameter when requesting
    // authorization, the authorization server MAY process the request with no specific
    // resource"; a bad one is "invalid_target".
    let resources = target::requested(params.resources(), &ctx.config.oauth2)
        .map_err(|e| fail(ErrorCode::InvalidTarget, &e.description))?;
    let nonce = params.get("nonce").map(str::to_owned);
    if response_type.id_token {
        // Core §3.2.2.1 and §3.3.2.11: an ID token from the authorization endpoint is
        // OpenID Connect only, and "nonce … REQUIRED" for it, against replay.
        if !ctx.config.oidc.enabled || !scope.contains("openid") {
            return Err(fail(ErrorCode::InvalidScope, "an id_token response needs the openid scope"));
        }
        if nonce.is_none() {
            return Err(fail(ErrorCode::InvalidRequest, "nonce is required when an id_token is returned"));
        }
    }

    let code_challenge = match (response_type.code, params.get("code_challenge")) {
        (false, _) => None,
        (true, Some(challenge)) => {
            // RFC 7636 §4.4.1: "If the server supporting PKCE does not support the
            // requested transformation, the authorization endpoint MUST return the
            // authorization error response with "error" value set to "invalid_request"."
            let method = CodeChallengeMethod::from_param(params.get("code_challenge_method"))
                .ok_or_else(|| fail(ErrorCode::InvalidRequest, "transform algorithm not supported"))?;
            // RFC 9700 §2.1.1, while `compliant_bcp_rfc9700_pkce_method` is on.
            if !ctx.config.oauth2.serves_pkce_method(method) {
                let why =
                    "transform algorithm not supported: code_challenge_method must be S256 (RFC 9700 section 2.1.1)";
                return Err(fail(ErrorCode::InvalidRequest, why));
            }
            if !pkce::is_well_formed(challenge) {
                return Err(fail(ErrorCode::InvalidRequest, "code_challenge is malformed"));
            }
            Some((challenge.to_owned(), method))
        }
        (true, None) if ctx.config.oauth2.pkce_required => {
            // RFC 7636 §4.4.1: "If the server requires Proof Key for Code Exchange
            // (PKCE) by OAuth public clients and the client does not send the
            // "code_challenge" in the request, the authorization endpoint MUST return
            // the authorization error response with the "error" value set to
            // "invalid_request"."
            return Err(fail(ErrorCode::InvalidRequest, "code challenge required"));
        }
        (true, None) => None,
    };

    let prompt = Prompt::parse(params.get("prompt")).map_err(|why| fail(ErrorCode::InvalidRequest, why))?;
    let max_age = match params.get("max_age") {
        None => None,
        // Core §3.1.2.1: "max_age … in seconds", a non-negative number.
        Some(raw) => Some(
            raw.parse::<u32>()
                .map(i64::from)
                .map_err(|_| fail(ErrorCode::InvalidRequest, "max_age must be a whole number of seconds"))?,
        ),
    };
    Ok(AuthorizationRequest {
        app,
        response_type,
        redirect_uri,
        redirect_uri_given: given,
        scope,
        resources,
        state: target.state,
        code_challenge,
        nonce,
        approval_prompt_auto: params.get("approval_prompt") == Some("auto"),
        prompt,
        max_age,
        id_token_hint: params.get("id_token_hint").map(str::to_owned),
    })
}

impl AuthorizationRequest {
    /// Decides between logging in, asking for consent, answering, and failing
    /// (OpenID Connect Core §3.1.2.3, §3.1.2.4). `hinted_subject` is the `sub` of a
    /// verified `id_token_hint`.
    pub fn next_step(
        &self,
        session: Option<SessionFacts>,
        consented: Option<&Consented>,
        hinted_subject: Option<&str>,
        now: i64,
    ) -> NextStep {
        let fail = |code, description: &str| NextStep::Fail(Redirect::error(&self.target(), code, description));
        let Some(session) = session else {
            if self.prompt.none {
                return fail(ErrorCode::LoginRequired, "the user is not logged in");
            }
            return NextStep::Login { again: false };
        };
        // Core §3.1.2.1 max_age: "If the elapsed time is greater than this value, the OP
        // MUST attempt to actively re-authenticate the End-User."
        let too_old = self.max_age.is_some_and(|max| session.auth_time.is_none_or(|at| now - at > max));
        if self.prompt.login || too_old {
            if self.prompt.none {
                return fail(ErrorCode::LoginRequired, "the user must log in again");
            }
            return NextStep::Login { again: true };
        }
        // Core §3.1.2.1 id_token_hint: "If the End-User identified by the ID Token is
        // logged in or is logged in by the request, then the Authorization Server
        // returns a positive response; otherwise, it SHOULD return an error, such as
        // login_required."
        if hinted_subject.is_some_and(|sub| sub != session.user_id.to_string()) {
            return fail(ErrorCode::LoginRequired, "another user is logged in than the id_token_hint names");
        }
        if self.prompt.consent || self.needs_consent(consented) {
            if self.prompt.none {
                return fail(ErrorCode::ConsentRequired, "the user has not consented to this request");
            }
            return NextStep::Consent;
        }
        NextStep::Approve
    }

    /// The request's own error target (its redirect URI, response type and state).
    fn target(&self) -> Target {
        Target { redirect_uri: self.redirect_uri.clone(), response_type: self.response_type, state: self.state.clone() }
    }

    /// Answers the client with `code` (an `id_token_hint` that does not verify, say).
    pub fn fail(&self, code: ErrorCode, description: &str) -> Redirect {
        Redirect::error(&self.target(), code, description)
    }

    /// Whether the user must be asked: not for applications that skip authorization,
    /// nor, with `approval_prompt=auto`, when earlier consent covers every scope and
    /// every resource.
    pub fn needs_consent(&self, consented: Option<&Consented>) -> bool {
        if self.app.settings.skip_authorization {
            return false;
        }
        !(self.approval_prompt_auto && consented.is_some_and(|c| c.covers(&self.scope, &self.resources)))
    }

    /// The parameters that reproduce this request, for the consent form to post back.
    pub fn hidden_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("client_id", self.app.client_id.clone()),
            ("response_type", self.response_type.as_str().to_owned()),
            ("scope", self.scope.to_string()),
        ];
        if self.redirect_uri_given {
            fields.push(("redirect_uri", self.redirect_uri.clone()));
        }
        fields.extend(self.resources.iter().map(|uri| ("resource", uri.to_owned())));
        if let Some(state) = &self.state {
            fields.push(("state", state.clone()));
        }
        if let Some((challenge, method)) = &self.code_challenge {
            fields.push(("code_challenge", challenge.clone()));
            fields.push(("code_challenge_method", method.as_str().to_owned()));
        }
        if let Some(nonce) = &self.nonce {
            fields.push(("nonce", nonce.clone()));
        }
        fields
    }

    /// The user said no: `access_denied` (RFC 6749 §4.1.2.1).
    pub fn deny(&self) -> Redirect {
        self.fail(ErrorCode::AccessDenied, "the user denied the request")
    }

    /// The user said yes (or need not be asked): remember the consent, then issue a code
    /// or, for the implicit grant, an access token. Everything is signed before
    /// anything is stored, so a signing failure leaves no code or token behind.
    pub async fn approve(&self, ctx: &Context<'_>, user: &User, auth_time: i64) -> Result<Approved, EndpointError> {
        let earlier = consented(ctx.store, user.id, self.app.id).await?;
        let all = Consented::widened(earlier.as_ref(), &self.scope, &self.resources);
        ctx.store.save_consent(user.id, self.app.id, &all.to_record(), ctx.now).await?;
        let code = self.response_type.code.then(Secret::generate);
        // RFC 6749 §4.2.2: "The authorization server MUST NOT issue a refresh token."
        let minted = if self.response_type.token {
            let access = Coverage { scope: &self.scope, resources: &self.resources };
            Some(mint(ctx, &self.app, Some(user.id), access, None).await?)
        } else {
            None
        };
        let mut id_token = None;
        if self.response_type.id_token {
            // Core §3.3.2.11: with the code, c_hash; with an access token, at_hash.
            id_token = ctx
                .id_token(IdTokenInput {
                    app: &self.app,
                    user,
                    scope: &self.scope,
                    nonce: self.nonce.as_deref(),
                    auth_time,
                    access_token: minted.as_ref().map(|m| m.response.access_token.as_str()),
                    code: code.as_ref().map(Secret::expose),
                })
                .await?;
        }
        let mut params = Vec::new();
        if let Some(code) = code {
            ctx.store.insert_code(&self.new_code(&code, user, auth_time, ctx)).await?;
            params.push(("code", code.expose().to_owned()));
        }
        let mut issued = None;
        if let Some(minted) = minted {
            ctx.store.insert_token(&minted.tokens).await?;
            params.push(("access_token", minted.response.access_token));
            params.push(("token_type", "Bearer".to_owned()));
            params.push(("expires_in", minted.response.expires_in.to_string()));
            params.push(("scope", minted.response.scope));
            issued = Some(grant::issued(TokenGrant::Implicit, &self.app, minted.tokens));
        }
        if let Some(id_token) = id_token {
            params.push(("id_token", id_token));
        }
        if let Some(state) = &self.state {
            params.push(("state", state.clone()));
        }
        let redirect = Redirect { redirect_uri: self.redirect_uri.clone(), response_type: self.response_type, params };
        Ok(Approved { redirect, issued })
    }

    /// The code to store for `code`, issued to `user` now.
    fn new_code(&self, code: &Secret, user: &User, auth_time: i64, ctx: &Context<'_>) -> NewCode {
        NewCode {
            hash: code.hash(),
            application_id: self.app.id,
            user_id: user.id,
            redirect_uri: if self.redirect_uri_given { self.redirect_uri.clone() } else { String::new() },
            scope: self.scope.to_string(),
            resource: self.resources.to_string(),
            code_challenge: self
                .code_challenge
                .as_ref()
                .map(|(challenge, method)| CodeChallenge { challenge: challenge.clone(), method: *method }),
            nonce: self.nonce.clone(),
            auth_time,
            created_at: ctx.now,
            expires_at: ctx.now + i64::from(ctx.config.oauth2.authorization_code_expire_seconds),
        }
    }
}

/// What approving an authorization request produced: where to send the browser, and
/// the access token issued, for the records, when the response type has one.
#[derive(Debug)]
pub struct Approved {
    /// The answer for the client, at its redirection URI.
    pub redirect: Redirect,
    /// The access token issued (implicit and hybrid flows), for the records.
    pub issued: Option<TokenIssued>,
}

/// What a user's standing consent for an application covers: scopes, and the
/// resources (RFC 8707) they were shown, or any resource when the request that earned it
/// named none (its tokens then worked anywhere already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consented {
    pub scope: ScopeSet,
    /// `None`: any resource.
    pub resources: Option<Resources>,
}

impl Consented {
    /// Whether a request for `scope` at `resources` asks for nothing the user has not
    /// already seen and agreed to. A request that names no resource asks for tokens that
    /// work anywhere: only a consent that covers any resource covers it.
    pub fn covers(&self, scope: &ScopeSet, resources: &Resources) -> bool {
        let resources_covered = match &self.resources {
            None => true,
            Some(agreed) => !resources.is_empty() && resources.iter().all(|r| agreed.contains(r)),
        };
        scope.is_subset(&self.scope) && resources_covered
    }

    /// The consent after the user agrees to `scope` at `resources`: what they agreed to
    /// before, and this.
    pub fn widened(earlier: Option<&Consented>, scope: &ScopeSet, resources: &Resources) -> Consented {
        let scope = earlier.map_or_else(|| scope.clone(), |e| e.scope.union(scope));
        let resources = match earlier.map(|e| &e.resources) {
            _ if resources.is_empty() => None,
            Some(None) => None,
            Some(Some(agreed)) => Some(agreed.union(resources)),
            None => Some(resources.clone()),
        };
        Consented { scope, resources }
    }

    fn to_record(&self) -> Consent {
        let resource = self.resources.as_ref().map(Resources::to_string).unwrap_or_default();
        Consent { scope: self.scope.to_string(), resource }
    }
}

/// What `user_id` consented to for `application_id` before. A consent only spares
/// asking again: one whose scope does not parse counts as none, so the user is asked and
/// the new consent replaces it.
pub async fn consented(store: &dyn Store, user_id: i64, application_id: i64) -> Result<Option<Consented>, StoreError> {
    let stored = store.consent(user_id, application_id).await?;
    Ok(stored.and_then(|consent| {
        let scope = ScopeSet::parse(&consent.scope).ok()?;
        let resources = (!consent.resource.is_empty()).then(|| Resources::from_stored(&consent.resource));
        Some(Consented { scope, resources })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{ClientType, GrantType, SigningAlgorithm};
    use crate::store::ApplicationSettings;

    fn request(prompt: &str, max_age: Option<i64>, skip_authorization: bool) -> AuthorizationRequest {
        AuthorizationRequest {
            app: Application {
                id: 1,
                client_id: "c".into(),
                client_secret_hash: None,
                settings: ApplicationSettings {
                    name: "n".into(),
                    client_type: ClientType::Public,
                    grant_types: vec![GrantType::AuthorizationCode],
                    redirect_uris: vec!["https://c.example/cb".into()],
                    post_logout_redirect_uris: vec![],
                    allowed_origins: vec![],
                    allowed_scopes: None,
                    skip_authorization,
                    algorithm: SigningAlgorithm::Rs256,
                    access_token_format: crate::proto::AccessTokenFormat::Opaque,
                    resource_server_uris: vec![],
                },
                owner_id: None,
                created_at: 0,
                updated_at: 0,
            },
            response_type: ResponseType::CODE,
            redirect_uri: "https://c.example/cb".into(),
            redirect_uri_given: true,
            scope: ScopeSet::parse("openid read").unwrap_or_default(),
            resources: Resources::default(),
            state: Some("st".into()),
            code_challenge: None,
            nonce: None,
            approval_prompt_auto: true,
            prompt: Prompt::parse(Some(prompt)).unwrap_or_default(),
            max_age,
            id_token_hint: None,
        }
    }

    fn error_of(step: NextStep) -> Option<String> {
        match step {
            NextStep::Fail(to) => to.params.iter().find(|(k, _)| *k == "error").map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    const NOW: i64 = 1_000;
    const ALICE: Option<SessionFacts> = Some(SessionFacts { user_id: 7, auth_time: Some(900) });

    #[test]
    fn prompt_values() {
        assert_eq!(Prompt::parse(None), Ok(Prompt::default()));
        assert_eq!(Prompt::parse(Some("login consent")), Ok(Prompt { none: false, login: true, consent: true }));
        assert_eq!(Prompt::parse(Some("select_account")), Ok(Prompt::default()));
        // Core §3.1.2.1: "If this parameter contains none with any other value, an error
        // is returned."
        assert!(Prompt::parse(Some("none login")).is_err());
        assert!(Prompt::parse(Some("none select_account")).is_err());
        assert!(Prompt::parse(Some("None")).is_err(), "case sensitive");
        assert!(Prompt::parse(Some("later")).is_err());
    }

    #[test]
    fn no_session_logs_in_unless_prompt_none() {
        assert_eq!(request("", None, false).next_step(None, None, None, NOW), NextStep::Login { again: false });
        // Core §3.1.2.6 login_required: "The Authorization Server requires End-User
        // authentication. This error MAY be returned when the prompt parameter value in
        // the Authentication Request is none".
        let step = request("none", None, false).next_step(None, None, None, NOW);
        assert_eq!(error_of(step).as_deref(), Some("login_required"));
    }

    #[test]
    fn prompt_login_and_max_age_ask_for_a_fresh_login() {
        assert_eq!(request("login", None, true).next_step(ALICE, None, None, NOW), NextStep::Login { again: true });
        // Logged in 100 s ago: max_age 100 is fine, 99 is not.
        assert_eq!(request("", Some(100), true).next_step(ALICE, None, None, NOW), NextStep::Approve);
        assert_eq!(request("", Some(99), true).next_step(ALICE, None, None, NOW), NextStep::Login { again: true });
        let unknown_time = Some(SessionFacts { user_id: 7, auth_time: None });
        assert_eq!(
            request("", Some(0), true).next_step(unknown_time, None, None, NOW),
            NextStep::Login { again: true }
        );
        let step = request("none", Some(10), true).next_step(ALICE, None, None, NOW);
        assert_eq!(error_of(step).as_deref(), Some("login_required"));
    }

    #[test]
    fn consent_is_asked_when_needed_or_prompted_and_never_with_prompt_none() {
        let read = Consented { scope: ScopeSet::parse("openid read").unwrap_or_default(), resources: None };
        assert_eq!(request("", None, false).next_step(ALICE, None, None, NOW), NextStep::Consent);
        assert_eq!(request("", None, false).next_step(ALICE, Some(&read), None, NOW), NextStep::Approve);
        assert_eq!(request("consent", None, false).next_step(ALICE, Some(&read), None, NOW), NextStep::Consent);
        assert_eq!(request("consent", None, true).next_step(ALICE, None, None, NOW), NextStep::Consent, "even skip");
        assert_eq!(request("none", None, false).next_step(ALICE, Some(&read), None, NOW), NextStep::Approve);
        // Core §3.1.2.6 consent_required.
        let step = request("none", None, false).next_step(ALICE, None, None, NOW);
        assert_eq!(error_of(step).as_deref(), Some("consent_required"));
    }

    #[test]
    fn consent_covers_the_resources_the_user_saw() {
        let read = ScopeSet::parse("read").unwrap_or_default();
        let a = Resources::from_stored("https://a.example/");
        let ab = Resources::from_stored("https://a.example/ https://b.example/");
        let none = Resources::default();
        // Given for a request that named no resource: its tokens worked anywhere.
        let anywhere = Consented { scope: read.clone(), resources: None };
        assert!(anywhere.covers(&read, &a) && anywhere.covers(&read, &none));
        // Given for A: covers A, not B, and not a token that would work anywhere.
        let at_a = Consented { scope: read.clone(), resources: Some(a.clone()) };
        assert!(at_a.covers(&read, &a));
        assert!(!at_a.covers(&read, &ab), "B was never shown");
        assert!(!at_a.covers(&read, &none), "an unbound token is more than A");
        // Agreeing again widens the standing consent.
        let both = Consented::widened(Some(&at_a), &read, &Resources::from_stored("https://b.example/"));
        assert_eq!(both.resources, Some(ab.clone()));
        assert_eq!(Consented::widened(Some(&at_a), &read, &none).resources, None);
        assert_eq!(Consented::widened(Some(&anywhere), &read, &a).resources, None);
        assert_eq!(Consented::widened(None, &read, &a).resources, Some(a.clone()));
        // With approval_prompt=auto the user is asked again for a resource not shown.
        let mut req = request("", None, false);
        req.scope = read.clone();
        req.resources = ab;
        assert_eq!(req.next_step(ALICE, Some(&at_a), None, NOW), NextStep::Consent);
        assert_eq!(req.next_step(ALICE, Some(&both), None, NOW), NextStep::Approve);
    }

    #[test]
    fn id_token_hint_must_name_the_user_logged_in() {
        assert_eq!(request("", None, true).next_step(ALICE, None, Some("7"), NOW), NextStep::Approve);
        let step = request("", None, true).next_step(ALICE, None, Some("8"), NOW);
        assert_eq!(error_of(step).as_deref(), Some("login_required"));
        // Errors keep the state (RFC 6749 §4.1.2.1).
        let NextStep::Fail(to) = request("none", None, false).next_step(None, None, None, NOW) else {
            panic!("not a failure")
        };
        assert!(to.params.contains(&("state", "st".into())));
    }
}
