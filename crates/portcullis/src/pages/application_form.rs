//! The application settings form, which the owner's pages (`applications`) and the
//! staff's (`admin::applications`) both show and read: one form type, one set of
//! template macros (`application_fields.html`), the rules of `registration` for
//! whoever sends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::AppState;
use crate::proto::{AccessTokenFormat, ClientType, GrantType};
use crate::registration::{self, Draft, Field, Problem, Registrant};
use crate::store::{Application, ApplicationSettings, User};

/// The form as sent. A checkbox group sends its name once per ticked box; a text
/// area holds one value per line.
#[derive(Deserialize)]
pub(super) struct ApplicationForm {
    #[serde(default)]
    name: String,
    client_type: Option<String>,
    #[serde(default)]
    grant_type: Vec<String>,
    redirect_uris: Option<String>,
    post_logout_redirect_uris: Option<String>,
    allowed_origins: Option<String>,
    #[serde(default)]
    scope: Vec<String>,
    skip_authorization: Option<String>,
    algorithm: Option<String>,
    access_token_format: Option<String>,
    resource_server_uris: Option<String>,
}

impl ApplicationForm {
    /// The draft the form describes, and the problems only the form can have (a grant
    /// type no checkbox offers). A client type that is neither leaves none chosen.
    pub(super) fn draft(&self) -> (Draft, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut grant_types = Vec::new();
        for raw in &self.grant_type {
            match raw.parse::<GrantType>() {
                Ok(grant) => grant_types.push(grant),
                Err(message) => problems.push(Problem::new(Field::GrantTypes, message)),
            }
        }
        let draft = Draft {
            name: self.name.clone(),
            client_type: self.client_type.as_deref().and_then(|t| t.parse().ok()),
            grant_types,
            redirect_uris: lines(self.redirect_uris.as_deref()),
            post_logout_redirect_uris: lines(self.post_logout_redirect_uris.as_deref()),
            allowed_origins: lines(self.allowed_origins.as_deref()),
            scopes: self.scope.clone(),
            skip_authorization: self.skip_authorization.is_some(),
            algorithm: self.algorithm.as_deref().unwrap_or(registration::ALGORITHMS[0]).to_owned(),
            access_token_format: self
                .access_token_format
                .as_deref()
                .unwrap_or(AccessTokenFormat::default().as_str())
                .to_owned(),
            resource_server_uris: lines(self.resource_server_uris.as_deref()),
        };
        (draft, problems)
    }
}

/// The non-blank lines of a text area, trimmed.
fn lines(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// A new application's form starts as a confidential web application.
pub(super) fn blank_draft() -> Draft {
    Draft {
        client_type: Some(ClientType::Confidential),
        grant_types: vec![GrantType::AuthorizationCode],
        algorithm: registration::ALGORITHMS[0].to_owned(),
        access_token_format: AccessTokenFormat::default().as_str().to_owned(),
        ..Draft::default()
    }
}

/// What the edit form starts from: the application as stored.
pub(super) fn draft_of(app: &Application) -> Draft {
    Draft::of(&app.settings)
}

/// Checks a submitted form's draft for `registrant`: the settings to store, or every
/// problem with it, `problems` (the form's own) included.
pub(super) fn check(
    state: &AppState,
    draft: &Draft,
    mut problems: Vec<Problem>,
    registrant: Registrant<'_>,
) -> Result<ApplicationSettings, Vec<Problem>> {
    match registration::validate(draft, &state.config.oauth2, registrant) {
        Ok(fields) if problems.is_empty() => Ok(fields),
        result => {
            problems.extend(result.err().unwrap_or_default());
            problems.sort_by_key(|p| p.field);
            Err(problems)
        }
    }
}

/// Whether `user` is staff, as the admin pages count them (superusers are).
pub(super) fn is_staff(user: &User) -> bool {
    user.is_staff || user.is_superuser
}

/// Who `user` is to the registration rules, changing `current` (none: registering).
pub(super) fn registrant<'a>(
    user: &User,
    self_service: &'a [GrantType],
    current: Option<&'a Application>,
) -> Registrant<'a> {
    if is_staff(user) {
        Registrant::Staff
    } else {
        Registrant::Owner { grant_types: self_service, current }
    }
}

/// Which settings differ between `before` and `after`, by name.
pub(super) fn changes(before: &Application, after: &Application) -> String {
    let differ = [
        ("name", before.settings.name != after.settings.name),
        ("grant types", before.settings.grant_types != after.settings.grant_types),
        ("redirect URIs", before.settings.redirect_uris != after.settings.redirect_uris),
        (
            "post-logout redirect URIs",
            before.settings.post_logout_redirect_uris != after.settings.post_logout_redirect_uris,
        ),
        ("allowed origins", before.settings.allowed_origins != after.settings.allowed_origins),
        ("allowed scopes", before.settings.allowed_scopes != after.settings.allowed_scopes),
        ("skip authorization", before.settings.skip_authorization != after.settings.skip_authorization),
        ("algorithm", before.settings.algorithm != after.settings.algorithm),
        ("access token format", before.settings.access_token_format != after.settings.access_token_format),
        ("resource server URIs", before.settings.resource_server_uris != after.settings.resource_server_uris),
    ];
    let names: Vec<&str> = differ.iter().filter(|(_, changed)| *changed).map(|(name, _)| *name).collect();
    if names.is_empty() {
        "nothing changed".to_owned()
    } else {
        names.join(", ")
    }
}

/// How the pages name a grant type.
pub(super) fn grant_label(grant: GrantType) -> &'static str {
    match grant {
        GrantType::AuthorizationCode => "Authorization code",
        GrantType::Implicit => "Implicit",
        GrantType::Password => "Resource owner password",
        GrantType::ClientCredentials => "Client credentials",
        GrantType::DeviceCode => "Device code",
        GrantType::OpenidHybrid => "OpenID Connect hybrid",
    }
}

/// How the form names an access token format.
fn format_label(format: AccessTokenFormat) -> &'static str {
    match format {
        AccessTokenFormat::Opaque => "Opaque (checked at Portcullis; revocation is immediate)",
        AccessTokenFormat::Jwt => "JWT, RFC 9068 (APIs check it offline; valid until it expires)",
    }
}

/// What the form's template reads, flattened into each page that shows the form: the
/// fields, the problems found, and the redirect URI schemes its help names.
#[derive(Serialize)]
pub(super) struct FormView {
    form: Fields,
    /// Every problem, in the order of the fields.
    problems: Vec<ProblemView>,
    /// Each field's own problems, by the field's form name.
    errors: BTreeMap<&'static str, Vec<String>>,
    redirect_schemes: String,
}

impl FormView {
    /// The form showing `draft` with `problems`, offering what `registrant` may choose.
    pub(super) fn new(state: &AppState, draft: &Draft, problems: &[Problem], registrant: Registrant<'_>) -> Self {
        let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for problem in problems {
            errors.entry(problem.field.form_name()).or_default().push(problem.sentence());
        }
        Self {
            form: Fields::new(state, draft, registrant),
            problems: problems
                .iter()
                .map(|p| ProblemView { field: p.field.form_name(), message: p.sentence() })
                .collect(),
            errors,
            redirect_schemes: state.config.oauth2.allowed_redirect_uri_schemes.join(", "),
        }
    }

    /// Whether a problem was found (the page then answers `400`).
    pub(super) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }
}

#[derive(Serialize)]
struct ProblemView {
    field: &'static str,
    message: String,
}

/// One checkbox, radio button or option.
#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    checked: bool,
}

/// The form's fields as they are to be shown: the values entered, or stored. Only
/// what `registrant` may choose is offered: the grants of
/// [`Registrant::offered_grants`], and the skip-authorization checkbox to staff.
#[derive(Serialize)]
struct Fields {
    name: String,
    client_type: &'static str,
    grant_types: Vec<Choice>,
    /// The grants not offered, which staff give.
    staff_only_grants: Vec<&'static str>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_origins: String,
    scopes: Vec<Choice>,
    may_skip_authorization: bool,
    skip_authorization: bool,
    algorithms: Vec<Choice>,
    access_token_formats: Vec<Choice>,
    resource_server_uris: String,
    /// Whether they may add resource server URIs (staff), or only keep or remove them.
    may_add_resources: bool,
}

impl Fields {
    fn new(state: &AppState, draft: &Draft, registrant: Registrant<'_>) -> Self {
        let offered = registrant.offered_grants();
        Self {
            name: draft.name.clone(),
            client_type: draft.client_type.map(ClientType::as_str).unwrap_or_default(),
            staff_only_grants: GrantType::ALL.into_iter().filter(|g| !offered.contains(g)).map(grant_label).collect(),
            grant_types: offered
                .iter()
                .map(|g| Choice {
                    value: g.as_str().to_owned(),
                    label: grant_label(*g).to_owned(),
                    checked: draft.grant_types.contains(g),
                })
                .collect(),
            redirect_uris: draft.redirect_uris.join("\n"),
            post_logout_redirect_uris: draft.post_logout_redirect_uris.join("\n"),
            allowed_origins: draft.allowed_origins.join("\n"),
            scopes: state
                .config
                .oauth2
                .scopes
                .iter()
                .map(|(name, description)| Choice {
                    value: name.clone(),
                    label: description.clone(),
                    checked: draft.scopes.contains(name),
                })
                .collect(),
            may_skip_authorization: registrant.may_skip_authorization(),
            skip_authorization: draft.skip_authorization,
            algorithms: registration::ALGORITHMS
                .iter()
                .map(|a| Choice { value: (*a).to_owned(), label: (*a).to_owned(), checked: draft.algorithm == *a })
                .collect(),
            access_token_formats: AccessTokenFormat::ALL
                .iter()
                .map(|f| Choice {
                    value: f.as_str().to_owned(),
                    label: format_label(*f).to_owned(),
                    checked: draft.access_token_format == f.as_str(),
                })
                .collect(),
            resource_server_uris: draft.resource_server_uris.join("\n"),
            may_add_resources: matches!(registrant, Registrant::Staff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::form;

    #[test]
    fn forms_keep_repeated_fields_and_lines() {
        let form: ApplicationForm = form::parse(
            b"name=Shop&grant_type=password&grant_type=client-credentials&redirect_uris=+https%3A%2F%2Fa%2Fcb%0D%0A%0D%0Ahttps%3A%2F%2Fb%2Fcb+&skip_authorization=on&resource_server_uris=https%3A%2F%2Fa%2Fapi%0D%0A",
        )
        .unwrap();
        let (draft, problems) = form.draft();
        assert!(problems.is_empty());
        assert_eq!(draft.grant_types, vec![GrantType::Password, GrantType::ClientCredentials]);
        assert_eq!(draft.redirect_uris, vec!["https://a/cb", "https://b/cb"]);
        assert_eq!(draft.resource_server_uris, vec!["https://a/api"]);
        assert!(draft.skip_authorization && draft.client_type.is_none() && draft.algorithm == "RS256");
        let form: ApplicationForm = form::parse(b"grant_type=teleport&client_type=secret").unwrap();
        let (draft, problems) = form.draft();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, Field::GrantTypes);
        assert_eq!((draft.name.as_str(), draft.client_type), ("", None));
    }
}
