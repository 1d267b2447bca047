//! The rules a client application's settings must follow, in one place for every way
//! of registering or changing one: `portcullis app create`, the application pages and
//! the admin pages accept and refuse exactly the same things, except what depends on
//! who asks ([`Registrant`]): only staff and the command line may let an application
//! skip the consent page or give it a grant beyond `[pages] self_service_grant_types`,
//! since what an ordinary user registers must act only for people who consent to it.

use portcullis_axum::ScopeSet;
use url::Url;

use crate::config::OAuth2Settings;
use crate::oauth::redirect;
use crate::proto::{AccessTokenFormat, ClientType, GrantType, InvalidResource, ResourceUri, SigningAlgorithm};
use crate::store::{Application, ApplicationSettings};

/// The ID token signing algorithms an application may choose; the first is the default.
///
/// ```
/// use portcullis::proto::SigningAlgorithm;
/// use portcullis::registration::ALGORITHMS;
///
/// assert_eq!(ALGORITHMS[0], "RS256", "OpenID Connect Core §15.1: every provider supports RS256");
/// assert!(ALGORITHMS.iter().all(|alg| SigningAlgorithm::parse(alg).is_some()));
/// ```
pub const ALGORITHMS: [&str; 3] =
    [SigningAlgorithm::Rs256.as_str(), SigningAlgorithm::Es256.as_str(), SigningAlgorithm::EdDsa.as_str()];

/// The longest application name, in characters.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::registration::{validate, Draft, Field, Registrant, MAX_NAME_CHARS};
///
/// let draft = Draft { name: "é".repeat(MAX_NAME_CHARS + 1), ..Draft::default() };
/// let problems = validate(&draft, &Config::defaults().oauth2, Registrant::Staff).err().unwrap_or_default();
/// assert_eq!(problems.first().map(|p| p.field), Some(Field::Name));
/// ```
pub const MAX_NAME_CHARS: usize = 255;

/// Grants that send the user's browser back to the client, so need a registered
/// redirection URI (RFC 6749 §3.1.2).
///
/// ```
/// use portcullis::registration::REDIRECTING_GRANTS;
/// use portcullis::proto::GrantType;
///
/// assert!(REDIRECTING_GRANTS.contains(&GrantType::AuthorizationCode));
/// // A device or a client on its own never sends a browser back.
/// assert!(!REDIRECTING_GRANTS.contains(&GrantType::DeviceCode));
/// assert!(!REDIRECTING_GRANTS.contains(&GrantType::ClientCredentials));
/// ```
pub const REDIRECTING_GRANTS: [GrantType; 3] =
    [GrantType::AuthorizationCode, GrantType::Implicit, GrantType::OpenidHybrid];

/// The setting a [`Problem`] is about.
///
/// It names the form field and the command-line option that set it, so that each
/// front end can point at its own:
///
/// ```
/// use portcullis::registration::Field;
///
/// assert_eq!((Field::RedirectUris.form_name(), Field::RedirectUris.option()), ("redirect_uris", "--redirect-uri"));
/// assert_eq!((Field::GrantTypes.form_name(), Field::GrantTypes.option()), ("grant_type", "--grant-type"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The application's name.
    Name,
    /// Confidential or public (RFC 6749 §2.1).
    ClientType,
    /// The grants it may use.
    GrantTypes,
    /// Its redirection URIs (RFC 6749 §3.1.2).
    RedirectUris,
    /// Where RP-initiated logout may send the browser.
    PostLogoutRedirectUris,
    /// The web origins its pages run at.
    AllowedOrigins,
    /// The scopes it may be granted.
    Scopes,
    /// Whether people are asked to consent to it.
    SkipAuthorization,
    /// The JWS algorithm its tokens are signed with.
    Algorithm,
    /// Opaque or JWT access tokens.
    AccessTokenFormat,
    /// The resources it is the resource server for (RFC 8707 resource URIs).
    ResourceServerUris,
}

impl Field {
    /// The field's name in the application form.
    pub fn form_name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::ClientType => "client_type",
            Self::GrantTypes => "grant_type",
            Self::RedirectUris => "redirect_uris",
            Self::PostLogoutRedirectUris => "post_logout_redirect_uris",
            Self::AllowedOrigins => "allowed_origins",
            Self::Scopes => "scope",
            Self::SkipAuthorization => "skip_authorization",
            Self::Algorithm => "algorithm",
            Self::AccessTokenFormat => "access_token_format",
            Self::ResourceServerUris => "resource_server_uris",
        }
    }

    /// The `portcullis app create` option that sets it.
    pub fn option(self) -> &'static str {
        match self {
            Self::Name => "--name",
            Self::ClientType => "--client-type",
            Self::GrantTypes => "--grant-type",
            Self::RedirectUris => "--redirect-uri",
            Self::PostLogoutRedirectUris => "--post-logout-redirect-uri",
            Self::AllowedOrigins => "--allowed-origin",
            Self::Scopes => "--scope",
            Self::SkipAuthorization => "--skip-authorization",
            Self::Algorithm => "--algorithm",
            Self::AccessTokenFormat => "--access-token-format",
            Self::ResourceServerUris => "--resource-server-uri",
        }
    }
}

/// One thing wrong with a [`Draft`]: which setting, and what, as a clause that reads
/// well after `error: ` on a command line (`problem.message`) or as a sentence on a
/// page ([`Problem::sentence`]).
///
/// ```
/// use portcullis::registration::{Field, Problem};
///
/// let problem = Problem::new(Field::Scopes, "scope \"admin\" is not one of the configured scopes");
/// // On a command line, after `error: `; on a page, as a sentence.
/// assert_eq!(problem.message, "scope \"admin\" is not one of the configured scopes");
/// assert_eq!(problem.sentence(), "Scope \"admin\" is not one of the configured scopes.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting that is wrong.
    pub field: Field,
    /// What is wrong with it, as a clause in lower case.
    pub message: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// The message with a capital first letter and a full stop.
    pub fn sentence(&self) -> String {
        let mut chars = self.message.chars();
        let mut text: String = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        if !text.ends_with(['.', '!', '?']) {
            text.push('.');
        }
        text
    }
}

/// Every problem on one line, each prefixed with the command-line option it is about.
///
/// ```
/// use portcullis::registration::{one_line, Field, Problem};
///
/// let problems = [
///     Problem::new(Field::Name, "the application name must be 1 to 255 characters"),
///     Problem::new(Field::GrantTypes, "choose at least one grant type"),
/// ];
/// assert_eq!(
///     one_line(&problems),
///     "--name: the application name must be 1 to 255 characters; --grant-type: choose at least one grant type"
/// );
/// ```
pub fn one_line(problems: &[Problem]) -> String {
    let parts: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field.option(), p.message)).collect();
    parts.join("; ")
}

/// An application's settings as someone asked for them, before they are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// The name, trimmed when checked; 1 to [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// `None` when none (or no known one) was chosen.
    pub client_type: Option<ClientType>,
    /// The grants it may use; at least one.
    pub grant_types: Vec<GrantType>,
    /// Its redirection URIs, needed by the [`REDIRECTING_GRANTS`].
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    /// The web origins its pages run at (see [`validate_origin`]).
    pub allowed_origins: Vec<String>,
    /// The scopes the application may be granted; none means every configured scope.
    pub scopes: Vec<String>,
    /// Whether users are never asked to consent: what was asked for, which only a
    /// [`Registrant::Staff`] may ask.
    pub skip_authorization: bool,
    /// Signs ID tokens, and access tokens in the `jwt` format.
    pub algorithm: String,
    /// `opaque` or `jwt`.
    pub access_token_format: String,
    /// The resources it is the resource server for (see [`validate_resource_uri`]),
    /// which only a [`Registrant::Staff`] may add.
    pub resource_server_uris: Vec<String>,
}

impl Draft {
    /// The draft that stores `settings` again unchanged: what an edit starts from.
    ///
    /// ```
    /// use portcullis::config::Config;
    /// use portcullis::proto::{ClientType, GrantType};
    /// use portcullis::registration::{validate, Draft, Registrant};
    /// use portcullis::store::ApplicationSettings;
    ///
    /// let settings = ApplicationSettings {
    ///     name: "Orders API".into(),
    ///     client_type: ClientType::Confidential,
    ///     grant_types: vec![GrantType::ClientCredentials],
    ///     resource_server_uris: vec!["https://api.example/orders".into()],
    ///     ..ApplicationSettings::default()
    /// };
    /// let again = validate(&Draft::of(&settings), &Config::defaults().oauth2, Registrant::Staff);
    /// assert_eq!(again, Ok(settings));
    /// ```
    pub fn of(settings: &ApplicationSettings) -> Self {
        Self {
            name: settings.name.clone(),
            client_type: Some(settings.client_type),
            grant_types: settings.grant_types.clone(),
            redirect_uris: settings.redirect_uris.clone(),
            post_logout_redirect_uris: settings.post_logout_redirect_uris.clone(),
            allowed_origins: settings.allowed_origins.clone(),
            scopes: settings.allowed_scopes.as_ref().map(|s| s.iter().map(str::to_owned).collect()).unwrap_or_default(),
            skip_authorization: settings.skip_authorization,
            algorithm: settings.algorithm.to_string(),
            access_token_format: settings.access_token_format.as_str().to_owned(),
            resource_server_uris: settings.resource_server_uris.clone(),
        }
    }
}

/// Who registers or changes an application, which decides what [`validate`] lets them
/// choose.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::registration::{self, Draft, Field, Registrant};
/// use portcullis::proto::{ClientType, GrantType};
///
/// let settings = Config::defaults().oauth2;
/// let draft = Draft {
///     name: "Look-alike".into(),
///     client_type: Some(ClientType::Confidential),
///     grant_types: vec![GrantType::AuthorizationCode, GrantType::Password],
///     redirect_uris: vec!["https://look-alike.example/cb".into()],
///     skip_authorization: true,
///     algorithm: registration::ALGORITHMS[0].into(),
///     access_token_format: "opaque".into(),
///     ..Draft::default()
/// };
/// // Staff (and `portcullis app create`) may choose anything.
/// assert!(registration::validate(&draft, &settings, Registrant::Staff).is_ok_and(|f| f.skip_authorization));
/// // An ordinary user may not skip consent, nor give a grant the settings keep for staff.
/// let owner = Registrant::Owner { grant_types: &[GrantType::AuthorizationCode], current: None };
/// let problems = registration::validate(&draft, &settings, owner).err().unwrap_or_default();
/// let fields: Vec<Field> = problems.iter().map(|p| p.field).collect();
/// assert_eq!(fields, [Field::GrantTypes, Field::SkipAuthorization]);
/// // What their form offers.
/// assert_eq!(owner.offered_grants(), [GrantType::AuthorizationCode]);
/// assert!(!owner.may_skip_authorization() && Registrant::Staff.may_skip_authorization());
/// assert_eq!(Registrant::Staff.offered_grants(), GrantType::ALL);
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Registrant<'a> {
    /// A staff member, on any page, or the command line (whoever runs it holds the
    /// database): every setting, skip authorization and every grant included.
    Staff,
    /// A user who is not staff, on the pages of their own applications. They may not
    /// ask to skip the consent page, and may choose only the grants in `grant_types`
    /// (`[pages] self_service_grant_types`) besides those `current` already has (staff
    /// gave them; unchecking one gives it up). When staff let `current` skip consent, it
    /// keeps doing so only while the owner's changes send codes and tokens nowhere new
    /// and ask for no more scopes. Nor may they make it the resource server of a URI
    /// it is not already registered for: under `introspection_policy = "audience"`
    /// that would let it read every token bound to that resource (whose user, which
    /// scopes), so it is staff's to vouch for; removing one gives it up.
    Owner {
        /// The grants they may give their applications.
        grant_types: &'a [GrantType],
        /// The application as stored, when they are changing one.
        current: Option<&'a Application>,
    },
}

impl Registrant<'_> {
    /// The grants a form offers them: every grant to staff; to an owner, those they may
    /// choose and those their application already has.
    pub fn offered_grants(&self) -> Vec<GrantType> {
        match self {
            Self::Staff => GrantType::ALL.to_vec(),
            Self::Owner { grant_types, current } => GrantType::ALL
                .into_iter()
                .filter(|g| grant_types.contains(g) || current.is_some_and(|app| app.allows_grant(*g)))
                .collect(),
        }
    }

    /// Whether they may let an application skip the consent page (only staff). A form
    /// shows the choice only to them.
    pub fn may_skip_authorization(&self) -> bool {
        matches!(self, Self::Staff)
    }
}

/// Checks a draft against the rules and the settings, for `registrant`. Returns the
/// settings to store, or every problem found (not only the first), in the order of the
/// fields. [`Applications::create_application`](crate::store::Applications::create_application)
/// stores them.
///
/// ```
/// use portcullis::config::Config;
/// use portcullis::registration::{self, Draft, Field, Registrant};
/// use portcullis::proto::{ClientType, GrantType};
///
/// let settings = Config::defaults().oauth2;
/// let draft = Draft {
///     name: "Shop front".into(),
///     client_type: Some(ClientType::Public),
///     grant_types: vec![GrantType::AuthorizationCode],
///     redirect_uris: vec!["https://shop.example/callback".into()],
///     algorithm: registration::ALGORITHMS[0].into(),
///     access_token_format: "opaque".into(),
///     ..Draft::default()
/// };
/// let fields =
///     registration::validate(&draft, &settings, Registrant::Staff).map_err(|p| registration::one_line(&p))?;
/// assert_eq!(fields.allowed_scopes, None, "no scopes chosen: every configured one");
///
/// // Every problem, not only the first.
/// let bad = Draft { redirect_uris: vec![], scopes: vec!["admin".into()], ..draft };
/// let problems = registration::validate(&bad, &settings, Registrant::Staff).err().unwrap_or_default();
/// let fields: Vec<Field> = problems.iter().map(|p| p.field).collect();
/// assert_eq!(fields, [Field::RedirectUris, Field::Scopes]);
/// # Ok::<(), String>(())
/// ```
pub fn validate(
    draft: &Draft,
    settings: &OAuth2Settings,
    registrant: Registrant<'_>,
) -> Result<ApplicationSettings, Vec<Problem>> {
    let mut problems = Vec::new();

    let name = draft.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        problems.push(Problem::new(
            Field::Name,
            format!("the application name must be 1 to {MAX_NAME_CHARS} characters, without control characters"),
        ));
    }

    if draft.client_type.is_none() {
        problems.push(Problem::new(Field::ClientType, "choose a client type: confidential or public"));
    }

    let mut grant_types = draft.grant_types.clone();
    grant_types.sort();
    grant_types.dedup();
    if grant_types.is_empty() {
        problems.push(Problem::new(Field::GrantTypes, "choose at least one grant type"));
    }
    if let Registrant::Owner { grant_types: offered, current } = registrant {
        let kept = current.map(|app| app.settings.grant_types.as_slice()).unwrap_or_default();
        for grant in grant_types.iter().filter(|g| !offered.contains(g) && !kept.contains(g)) {
            let offered: Vec<&str> = offered.iter().map(|g| g.as_str()).collect();
            let offered = if offered.is_empty() { "none".to_owned() } else { offered.join(", ") };
            problems.push(Problem::new(
                Field::GrantTypes,
                format!("only staff can give an application the {grant} grant (you may choose: {offered})"),
            ));
        }
    }
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by
    // confidential clients." The message also says what to do instead: the usual ask
    // is a browser or mobile front end, which signs its users in with the code grant
    // and PKCE as a public client (RFC 7636; RFC 8252 §6 for native apps). Two
    // sentences, so it reads after `--grant-type: ` and, capitalised, on the page.
    if draft.client_type == Some(ClientType::Public) && grant_types.contains(&GrantType::ClientCredentials) {
        problems.push(Problem::new(
            Field::GrantTypes,
            "client-credentials needs a confidential client (RFC 6749 §4.4), since a public client cannot keep the \
             secret it would authenticate with. For a browser or mobile front end, use authorization-code with PKCE \
             instead, keeping the client public (RFC 7636)",
        ));
    }

    let redirect_uris = dedup(&draft.redirect_uris);
    let policy = redirect::Policy::of(settings);
    for uri in &redirect_uris {
        let checked = redirect::validate_registered(uri, &settings.allowed_redirect_uri_schemes)
            .and_then(|()| policy.check_transport(uri));
        if let Err(message) = checked {
            problems.push(Problem::new(Field::RedirectUris, message));
        }
    }
    let redirecting: Vec<&str> =
        grant_types.iter().filter(|g| REDIRECTING_GRANTS.contains(g)).map(|g| g.as_str()).collect();
    if redirect_uris.is_empty() && !redirecting.is_empty() {
        let (grants, verb) = match redirecting.as_slice() {
            [one] => (format!("the {one} grant"), "needs"),
            [first @ .., last] => (format!("the {} and {last} grants", first.join(", ")), "need"),
            [] => (String::new(), "needs"),
        };
        problems.push(Problem::new(Field::RedirectUris, format!("{grants} {verb} at least one redirect URI")));
    }

    // OpenID Connect RP-Initiated Logout 1.0 §3.1: "The value MUST have been previously
    // registered with the OP"; the same rules as redirect URIs (absolute, an allowed
    // scheme, no fragment), and matched as exactly.
    let post_logout_redirect_uris = dedup(&draft.post_logout_redirect_uris);
    for uri in &post_logout_redirect_uris {
        if let Err(message) = redirect::validate_registered(uri, &settings.allowed_redirect_uri_schemes) {
            problems.push(Problem::new(Field::PostLogoutRedirectUris, message));
        }
    }

    let allowed_origins = dedup(&draft.allowed_origins);
    for origin in &allowed_origins {
        if let Err(message) = validate_origin(origin) {
            problems.push(Problem::new(Field::AllowedOrigins, message));
        }
    }

    let allowed_scopes = if draft.scopes.is_empty() {
        None
    } else {
        match ScopeSet::parse(&draft.scopes.join(" ")) {
            Ok(scopes) => {
                for unknown in scopes.iter().filter(|s| !settings.scopes.contains_key(*s)) {
                    problems.push(Problem::new(
                        Field::Scopes,
                        format!("scope {unknown:?} is not one of the configured scopes"),
                    ));
                }
                Some(scopes)
            }
            Err(e) => {
                problems.push(Problem::new(Field::Scopes, e.to_string()));
                None
            }
        }
    };

    if draft.skip_authorization && matches!(registrant, Registrant::Owner { .. }) {
        problems
            .push(Problem::new(Field::SkipAuthorization, "only staff can let an application skip the consent page"));
    }

    let algorithm = SigningAlgorithm::parse(&draft.algorithm).unwrap_or_else(|| {
        problems.push(Problem::new(
            Field::Algorithm,
            format!("algorithm {:?} is not one of {}", draft.algorithm, ALGORITHMS.join(", ")),
        ));
        SigningAlgorithm::Rs256
    });

    let access_token_format = draft.access_token_format.parse::<AccessTokenFormat>().unwrap_or_else(|message| {
        problems.push(Problem::new(Field::AccessTokenFormat, message));
        AccessTokenFormat::Opaque
    });

    let resource_server_uris = dedup(&draft.resource_server_uris);
    for uri in &resource_server_uris {
        if let Err(message) = validate_resource_uri(uri) {
            problems.push(Problem::new(Field::ResourceServerUris, message));
        }
    }
    if let Registrant::Owner { current, .. } = registrant {
        let kept = current.map(|app| app.settings.resource_server_uris.as_slice()).unwrap_or_default();
        for uri in resource_server_uris.iter().filter(|uri| !kept.contains(uri)) {
            problems.push(Problem::new(
                Field::ResourceServerUris,
                format!("only staff can make an application the resource server for {uri:?}"),
            ));
        }
    }
    // A resource server proves who it is at the introspection endpoint with its client
    // credentials (RFC 7662 §2.1), which a public client does not have.
    if draft.client_type == Some(ClientType::Public) && !resource_server_uris.is_empty() {
        problems.push(Problem::new(
            Field::ResourceServerUris,
            "a resource server authenticates with a client secret to introspect tokens (RFC 7662 §2.1), so only a \
             confidential client can be one",
        ));
    }

    let Some(client_type) = draft.client_type.filter(|_| problems.is_empty()) else { return Err(problems) };
    let mut fields = ApplicationSettings {
        name: name.to_owned(),
        client_type,
        grant_types,
        redirect_uris,
        post_logout_redirect_uris,
        allowed_origins,
        allowed_scopes,
        skip_authorization: draft.skip_authorization,
        algorithm,
        access_token_format,
        resource_server_uris,
    };
    if let Registrant::Owner { current, .. } = registrant {
        // Staff's trust was in the application as they saw it: an owner's change that
        // sends codes or tokens anywhere new, or asks for more, must ask people again.
        fields.skip_authorization =
            current.is_some_and(|app| app.settings.skip_authorization && !widens(&app.settings, &fields));
    }
    Ok(fields)
}

/// Whether `after` would let the application reach further than `before` does: a
/// grant, redirect URI or allowed origin it did not have, more scopes, or a public
/// client where there was a confidential one (no secret needed to redeem its codes).
/// A change that only narrows these, or touches nothing else of them (a new name,
/// algorithm, token format or post-logout URI), does not.
fn widens(before: &ApplicationSettings, after: &ApplicationSettings) -> bool {
    let subset = |new: &[String], old: &[String]| new.iter().all(|item| old.contains(item));
    let more_scopes = match (&before.allowed_scopes, &after.allowed_scopes) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(old), Some(new)) => !new.is_subset(old),
    };
    !after.grant_types.iter().all(|g| before.grant_types.contains(g))
        || !subset(&after.redirect_uris, &before.redirect_uris)
        || !subset(&after.allowed_origins, &before.allowed_origins)
        || more_scopes
        || (before.client_type == ClientType::Confidential && after.client_type == ClientType::Public)
}

/// An allowed origin is what a browser sends in `Origin` (RFC 6454 §6.1): an http or
/// https scheme, a host and an optional port, with nothing after them, in the
/// canonical form browsers use (lower-case host, no default port).
///
/// ```
/// use portcullis::registration::validate_origin;
///
/// assert!(validate_origin("https://app.example:8443").is_ok());
/// // Browsers send the host in lower case and no default port, and nothing after it.
/// assert!(validate_origin("https://App.example").is_err());
/// assert!(validate_origin("https://app.example:443").is_err());
/// assert!(validate_origin("https://app.example/").is_err());
/// ```
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let canonical = Url::parse(origin)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.origin().ascii_serialization());
    match canonical {
        Some(c) if c == origin => Ok(()),
        Some(c) if c != "null" => Err(format!("origin {origin:?} is not an origin: did you mean {c:?}?")),
        _ => {
            Err(format!("origin {origin:?} is not an origin such as https://app.example (scheme, host and port only)"))
        }
    }
}

/// Checks a resource URI an application is registered as the resource server for: what
/// a client names in the `resource` parameter to get a token for it. RFC 8707 §2: "The
/// value of the resource parameter MUST be an absolute URI, as specified by Section 4.3
/// of [RFC3986], which MAY include a query component, but MUST NOT include a fragment
/// component." Tokens' audiences are compared with it as strings, exactly, so it is
/// kept as given.
///
/// ```
/// use portcullis::registration::validate_resource_uri;
///
/// assert!(validate_resource_uri("https://api.example/orders").is_ok());
/// assert!(validate_resource_uri("urn:example:billing").is_ok(), "any absolute URI");
/// assert!(validate_resource_uri("https://api.example/orders#v2").is_err());
/// assert!(validate_resource_uri("/orders").is_err());
/// ```
pub fn validate_resource_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2048 {
        return Err(format!("resource URI {uri:?} is too long"));
    }
    // The token endpoint's own rule, so that what is registered is what clients can ask
    // for.
    match ResourceUri::parse(uri) {
        Ok(_) => Ok(()),
        Err(InvalidResource::Fragment) => {
            Err(format!("resource URI {uri:?} must not contain a fragment (RFC 8707 §2)"))
        }
        Err(_) => Err(format!("resource URI {uri:?} is not an absolute URI without spaces (RFC 8707 §2)")),
    }
}

/// The items in their first order, each once.
fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            name: "  Shop  ".into(),
            client_type: Some(ClientType::Confidential),
            grant_types: vec![GrantType::Password, GrantType::AuthorizationCode, GrantType::Password],
            redirect_uris: vec!["https://shop.example/cb".into(), "https://shop.example/cb".into()],
            post_logout_redirect_uris: vec!["https://shop.example/bye".into(), "https://shop.example/bye".into()],
            allowed_origins: vec!["https://shop.example".into()],
            scopes: vec!["read".into(), "write".into()],
            skip_authorization: true,
            algorithm: "ES256".into(),
            access_token_format: "jwt".into(),
            resource_server_uris: vec![],
        }
    }

    fn fields_of(problems: &[Problem]) -> Vec<Field> {
        problems.iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_good_draft_is_normalised() {
        let api = "https://shop.example/api".to_owned();
        let twice = Draft { resource_server_uris: vec![api.clone(), api], ..draft() };
        let fields = validate(&twice, &OAuth2Settings::default(), Registrant::Staff).unwrap();
        assert_eq!(fields.name, "Shop");
        assert_eq!(fields.grant_types, vec![GrantType::AuthorizationCode, GrantType::Password]);
        assert_eq!(fields.redirect_uris, vec!["https://shop.example/cb"]);
        assert_eq!(fields.post_logout_redirect_uris, vec!["https://shop.example/bye"]);
        assert_eq!(fields.allowed_scopes.unwrap().to_string(), "read write");
        assert_eq!(fields.algorithm.as_str(), "ES256");
        assert_eq!(fields.access_token_format, AccessTokenFormat::Jwt);
        assert!(fields.skip_authorization);
        assert_eq!(fields.resource_server_uris, vec!["https://shop.example/api"]);
        let all = Draft { scopes: vec![], ..draft() };
        assert!(
            validate(&all, &OAuth2Settings::default(), Registrant::Staff).unwrap().allowed_scopes.is_none(),
            "none: every scope"
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = Draft {
            name: " ".into(),
            client_type: Some(ClientType::Public),
            grant_types: vec![GrantType::ClientCredentials, GrantType::Implicit],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec!["https://shop.example/bye#top".into()],
            allowed_origins: vec!["https://shop.example/".into(), "shop.example".into()],
            scopes: vec!["admin".into()],
            skip_authorization: false,
            algorithm: "HS256".into(),
            access_token_format: "macaroon".into(),
            resource_server_uris: vec!["https://shop.example/api#v1".into()],
        };
        let problems = validate(&bad, &OAuth2Settings::default(), Registrant::Staff).unwrap_err();
        assert_eq!(
            fields_of(&problems),
            vec![
                Field::Name,
                Field::GrantTypes,
                Field::RedirectUris,
                Field::PostLogoutRedirectUris,
                Field::AllowedOrigins,
                Field::AllowedOrigins,
                Field::Scopes,
                Field::Algorithm,
                Field::AccessTokenFormat,
                Field::ResourceServerUris,
                Field::ResourceServerUris,
            ]
        );
        assert!(problems[2].message.contains("the implicit grant needs at least one redirect URI"), "{problems:?}");
        assert!(problems[3].message.contains("fragment"), "{problems:?}");
        assert!(problems[4].message.contains("did you mean \"https://shop.example\""), "{problems:?}");
        let line = one_line(&problems);
        assert!(line.starts_with("--name: the application name") && line.contains("; --redirect-uri: "), "{line}");
        assert_eq!(problems[0].sentence().chars().next(), Some('T'));
        assert!(problems[0].sentence().ends_with('.'));
    }

    #[test]
    fn grant_and_client_type_rules() {
        let none = Draft { grant_types: vec![], ..draft() };
        assert_eq!(
            fields_of(&validate(&none, &OAuth2Settings::default(), Registrant::Staff).unwrap_err()),
            vec![Field::GrantTypes]
        );
        let untyped = Draft { client_type: None, ..draft() };
        assert_eq!(
            fields_of(&validate(&untyped, &OAuth2Settings::default(), Registrant::Staff).unwrap_err()),
            vec![Field::ClientType]
        );
        let both = Draft {
            grant_types: vec![GrantType::OpenidHybrid, GrantType::AuthorizationCode],
            redirect_uris: vec![],
            ..draft()
        };
        let problems = validate(&both, &OAuth2Settings::default(), Registrant::Staff).unwrap_err();
        assert!(problems[0].message.contains("the authorization-code and openid-hybrid grants need"), "{problems:?}");
        let machine = Draft { grant_types: vec![GrantType::ClientCredentials], redirect_uris: vec![], ..draft() };
        assert!(validate(&machine, &OAuth2Settings::default(), Registrant::Staff).is_ok(), "no redirect URI needed");
    }

    /// RFC 6749 §4.4: "The client credentials grant type MUST only be used by
    /// confidential clients." The refusal says what a public client uses instead.
    #[test]
    fn a_public_client_is_told_what_to_use_instead_of_client_credentials() {
        let public = Draft {
            client_type: Some(ClientType::Public),
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            ..draft()
        };
        let problems = validate(&public, &OAuth2Settings::default(), Registrant::Staff).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::GrantTypes]);
        let line = one_line(&problems);
        assert!(
            line.starts_with("--grant-type: client-credentials needs a confidential client (RFC 6749 §4.4)"),
            "{line}"
        );
        assert!(line.contains("use authorization-code with PKCE instead, keeping the client public"), "{line}");
        let sentence = problems[0].sentence();
        assert!(sentence.starts_with("Client-credentials needs") && sentence.ends_with("(RFC 7636)."), "{sentence}");
        // What it suggests is accepted.
        let code = Draft {
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["http://localhost:5173/callback".into()],
            ..public
        };
        assert!(validate(&code, &OAuth2Settings::default(), Registrant::Staff).is_ok());
    }

    #[test]
    fn redirect_uris_follow_the_settings() {
        let settings = OAuth2Settings { allowed_redirect_uri_schemes: vec!["https".into()], ..Default::default() };
        let plain = Draft { redirect_uris: vec!["http://shop.example/cb".into()], ..draft() };
        let problems = validate(&plain, &settings, Registrant::Staff).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::RedirectUris]);
        assert!(problems[0].message.contains("scheme"));
        for bad in ["/cb", "https://shop.example/cb#x"] {
            let d = Draft { redirect_uris: vec![bad.into()], ..draft() };
            assert!(validate(&d, &OAuth2Settings::default(), Registrant::Staff).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_http_redirect_uris_only_on_loopback_under_rfc9700() {
        // RFC 9700 §2.6: "authorization servers MUST NOT allow redirect URIs that use the
        // "http" scheme except for native clients that use loopback interface
        // redirection as described in Section 7.3 of [RFC8252]."
        let settings = OAuth2Settings { compliant_bcp_rfc9700_redirect_uri_scheme: true, ..Default::default() };
        let plain = Draft { redirect_uris: vec!["http://shop.example/cb".into()], ..draft() };
        assert!(validate(&plain, &OAuth2Settings::default(), Registrant::Staff).is_ok(), "switched off");
        let problems = validate(&plain, &settings, Registrant::Staff).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::RedirectUris]);
        let line = one_line(&problems);
        assert!(line.contains("plain http") && line.contains("RFC 9700 §2.6") && line.contains("https"), "{line}");
        for fine in ["https://shop.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"] {
            let d = Draft { redirect_uris: vec![fine.into()], ..draft() };
            assert!(validate(&d, &settings, Registrant::Staff).is_ok(), "{fine}");
        }
        let localhost = Draft { redirect_uris: vec!["http://localhost:5173/cb".into()], ..draft() };
        assert!(validate(&localhost, &settings, Registrant::Staff).is_err());
        let with_localhost = OAuth2Settings { allow_localhost_loopback: true, ..settings };
        assert!(validate(&localhost, &with_localhost, Registrant::Staff).is_ok());
    }

    /// `fields` as stored, owned by user 7.
    fn stored(fields: &ApplicationSettings) -> Application {
        Application {
            id: 1,
            client_id: "shop".into(),
            client_secret_hash: None,
            settings: fields.clone(),
            owner_id: Some(7),
            created_at: 0,
            updated_at: 0,
        }
    }

    const SELF_SERVICE: [GrantType; 4] =
        [GrantType::AuthorizationCode, GrantType::DeviceCode, GrantType::Implicit, GrantType::OpenidHybrid];

    fn owner(current: Option<&Application>) -> Registrant<'_> {
        Registrant::Owner { grant_types: &SELF_SERVICE, current }
    }

    /// A draft an ordinary user's form may send: no skip, self-service grants.
    fn owners_draft() -> Draft {
        Draft { grant_types: vec![GrantType::AuthorizationCode], skip_authorization: false, ..draft() }
    }

    #[test]
    fn only_staff_skip_consent() {
        let settings = OAuth2Settings::default();
        let asked = Draft { skip_authorization: true, ..owners_draft() };
        let problems = validate(&asked, &settings, owner(None)).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::SkipAuthorization], "refused, never stored");
        assert_eq!(problems[0].sentence(), "Only staff can let an application skip the consent page.");
        assert!(!validate(&owners_draft(), &settings, owner(None)).unwrap().skip_authorization);
        assert!(validate(&asked, &settings, Registrant::Staff).unwrap().skip_authorization);
        // Refused on an edit too, even of an application staff let skip consent.
        let trusted = stored(&validate(&asked, &settings, Registrant::Staff).unwrap());
        let problems = validate(&asked, &settings, owner(Some(&trusted))).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::SkipAuthorization]);
    }

    #[test]
    fn owners_choose_only_self_service_grants() {
        let settings = OAuth2Settings::default();
        let machine = Draft {
            grant_types: vec![GrantType::Password, GrantType::ClientCredentials, GrantType::AuthorizationCode],
            ..owners_draft()
        };
        let problems = validate(&machine, &settings, owner(None)).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::GrantTypes, Field::GrantTypes]);
        assert_eq!(
            problems[0].message,
            "only staff can give an application the password grant (you may choose: authorization-code, \
             device-code, implicit, openid-hybrid)"
        );
        assert!(problems[1].message.contains("the client-credentials grant"), "{problems:?}");
        let none = Registrant::Owner { grant_types: &[], current: None };
        let problems = validate(&owners_draft(), &settings, none).unwrap_err();
        assert!(problems[0].message.ends_with("(you may choose: none)"), "{problems:?}");
        for grant in SELF_SERVICE {
            let d = Draft { grant_types: vec![grant], ..owners_draft() };
            assert!(validate(&d, &settings, owner(None)).is_ok(), "{grant}");
        }
        // A grant staff gave stays when the owner edits other things, and may be given
        // up, but not taken again.
        let given = stored(&validate(&machine, &settings, Registrant::Staff).unwrap());
        let renamed = Draft { name: "Shop 2".into(), ..machine.clone() };
        let kept = validate(&renamed, &settings, owner(Some(&given))).unwrap();
        assert_eq!(kept.grant_types, given.settings.grant_types);
        let dropped = Draft { grant_types: vec![GrantType::AuthorizationCode], ..owners_draft() };
        let after = stored(&validate(&dropped, &settings, owner(Some(&given))).unwrap());
        assert!(validate(&machine, &settings, owner(Some(&after))).is_err(), "given up for good");
        // The form offers what they may choose, and what the application has.
        assert_eq!(owner(Some(&given)).offered_grants(), GrantType::ALL);
        let offered =
            [GrantType::AuthorizationCode, GrantType::Implicit, GrantType::DeviceCode, GrantType::OpenidHybrid];
        assert_eq!(owner(Some(&after)).offered_grants(), offered);
        assert_eq!(owner(None).offered_grants(), offered);
    }

    #[test]
    fn staff_trust_survives_only_changes_that_reach_no_further() {
        let settings = OAuth2Settings::default();
        let trusted = stored(&validate(&draft(), &settings, Registrant::Staff).unwrap());
        assert!(trusted.settings.skip_authorization);
        // What the owner's form sends back unchanged: the stored settings, no checkbox.
        let as_stored = Draft { skip_authorization: false, ..draft() };
        let skip = |d: Draft| validate(&d, &settings, owner(Some(&trusted))).unwrap().skip_authorization;
        assert!(skip(as_stored.clone()), "saved as it was");
        assert!(skip(Draft { name: "Shop, renamed".into(), ..as_stored.clone() }));
        assert!(skip(Draft { algorithm: "EdDSA".into(), access_token_format: "opaque".into(), ..as_stored.clone() }));
        assert!(skip(Draft { redirect_uris: vec![], grant_types: vec![GrantType::Password], ..as_stored.clone() }));
        assert!(skip(Draft { scopes: vec!["read".into()], allowed_origins: vec![], ..as_stored.clone() }));
        assert!(skip(Draft {
            post_logout_redirect_uris: vec!["https://shop.example/other".into()],
            ..as_stored.clone()
        }));
        for (what, wider) in [
            (
                "a new redirect URI",
                Draft { redirect_uris: vec!["https://attacker.example/cb".into()], ..as_stored.clone() },
            ),
            (
                "another redirect URI",
                Draft {
                    redirect_uris: vec!["https://shop.example/cb".into(), "https://shop.example/cb2".into()],
                    ..as_stored.clone()
                },
            ),
            (
                "a new grant",
                Draft {
                    grant_types: vec![GrantType::AuthorizationCode, GrantType::Implicit, GrantType::Password],
                    ..as_stored.clone()
                },
            ),
            ("a new origin", Draft { allowed_origins: vec!["https://attacker.example".into()], ..as_stored.clone() }),
            (
                "more scopes",
                Draft { scopes: vec!["read".into(), "write".into(), "groups".into()], ..as_stored.clone() },
            ),
            ("every scope", Draft { scopes: vec![], ..as_stored.clone() }),
            ("made public", Draft { client_type: Some(ClientType::Public), ..as_stored.clone() }),
        ] {
            assert!(!skip(wider), "{what} turns skipping off");
        }
        // An application staff did not trust never gains it.
        let untrusted = ApplicationSettings {
            skip_authorization: false,
            ..validate(&draft(), &settings, Registrant::Staff).unwrap()
        };
        let untrusted = stored(&untrusted);
        assert!(!validate(&as_stored, &settings, owner(Some(&untrusted))).unwrap().skip_authorization);
    }

    /// RFC 8707 §2: "The value of the resource parameter MUST be an absolute URI, as
    /// specified by Section 4.3 of [RFC3986], which MAY include a query component, but
    /// MUST NOT include a fragment component."
    #[test]
    fn resource_uris_are_absolute_without_a_fragment() {
        for good in [
            "https://api.example",
            "https://api.example/orders/",
            "https://api.example/orders?tenant=7",
            "http://127.0.0.1:8080/api",
            "urn:example:billing",
        ] {
            assert_eq!(validate_resource_uri(good), Ok(()), "{good}");
        }
        for bad in
            ["/orders", "api.example/orders", "https://api.example/#", "urn:a#b", "", "https://a b/", "//api.example"]
        {
            assert!(validate_resource_uri(bad).is_err(), "{bad}");
        }
        assert!(validate_resource_uri("https://api.example/#top").unwrap_err().contains("fragment"));
        let long = format!("https://api.example/{}", "a".repeat(2048));
        assert!(validate_resource_uri(&long).is_err());
        // Kept as given: the audience is compared with it exactly.
        let settings = OAuth2Settings::default();
        let d = Draft { resource_server_uris: vec!["https://API.example".into()], ..draft() };
        assert_eq!(validate(&d, &settings, Registrant::Staff).unwrap().resource_server_uris, ["https://API.example"]);
        let bad = Draft { resource_server_uris: vec!["https://api.example/#v1".into()], ..draft() };
        let problems = validate(&bad, &settings, Registrant::Staff).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::ResourceServerUris]);
        assert!(one_line(&problems).starts_with("--resource-server-uri: resource URI"), "{problems:?}");
    }

    /// RFC 7662 §2.1: the protected resource calling the introspection endpoint
    /// authenticates; a public client has nothing to authenticate with.
    #[test]
    fn only_confidential_clients_are_resource_servers() {
        let public = Draft {
            client_type: Some(ClientType::Public),
            grant_types: vec![GrantType::AuthorizationCode],
            resource_server_uris: vec!["https://shop.example/api".into()],
            ..draft()
        };
        let problems = validate(&public, &OAuth2Settings::default(), Registrant::Staff).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::ResourceServerUris]);
        assert!(problems[0].message.contains("only a confidential client"), "{problems:?}");
        let none = Draft { resource_server_uris: vec![], ..public };
        assert!(validate(&none, &OAuth2Settings::default(), Registrant::Staff).is_ok());
    }

    /// Under `introspection_policy = "audience"` a resource server reads the tokens of
    /// its resources: an owner keeps or gives up what staff registered, and adds none.
    #[test]
    fn owners_cannot_claim_resources() {
        let settings = OAuth2Settings::default();
        let claim = Draft { resource_server_uris: vec!["https://bank.example/api".into()], ..owners_draft() };
        let problems = validate(&claim, &settings, owner(None)).unwrap_err();
        assert_eq!(fields_of(&problems), vec![Field::ResourceServerUris]);
        assert_eq!(
            problems[0].sentence(),
            "Only staff can make an application the resource server for \"https://bank.example/api\"."
        );
        assert!(validate(&claim, &settings, Registrant::Staff).is_ok());
        let registered = stored(&validate(&claim, &settings, Registrant::Staff).unwrap());
        let kept = validate(&claim, &settings, owner(Some(&registered))).unwrap();
        assert_eq!(kept.resource_server_uris, ["https://bank.example/api"], "kept on an edit");
        let another = Draft {
            resource_server_uris: vec!["https://bank.example/api".into(), "https://bank.example/admin".into()],
            ..owners_draft()
        };
        let problems = validate(&another, &settings, owner(Some(&registered))).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.ends_with("\"https://bank.example/admin\""), "{problems:?}");
        let given_up = stored(&validate(&owners_draft(), &settings, owner(Some(&registered))).unwrap());
        assert!(given_up.settings.resource_server_uris.is_empty());
        assert!(validate(&claim, &settings, owner(Some(&given_up))).is_err(), "given up for good");
    }

    #[test]
    fn origins() {
        for good in ["https://app.example", "http://127.0.0.1:8080", "https://app.example:8443"] {
            assert_eq!(validate_origin(good), Ok(()), "{good}");
        }
        for bad in [
            "https://app.example/",
            "https://app.example/path",
            "https://App.example",
            "https://app.example:443",
            "app.example",
            "ftp://app.example",
            "null",
            "",
            "https://",
        ] {
            assert!(validate_origin(bad).is_err(), "{bad}");
        }
    }
}
