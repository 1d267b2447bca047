//! `/o/applications/`: the logged-in user's own client applications: list, register,
//! detail, edit, a new secret, delete. A user reaches only the applications they own;
//! anyone else's answers 404, as one that does not exist does, so ids reveal nothing.
//! What an application may be is decided in `registration`, the rules
//! `portcullis app create` and the admin pages follow too. A user who is not staff
//! cannot let an application skip the consent page, and chooses its grants among
//! `[pages] self_service_grant_types`: what they register acts only for people who
//! consent to it. Staff may choose everything here as on the admin pages.
//!
//! A client secret is shown once, in the answer to the form that made it (registering,
//! making an application confidential, or asking for a new secret), and never again:
//! only its hash is kept.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{StatusCode, Uri};
use minijinja::context;
use serde::Serialize;

use super::{base_context, date_view, login_redirect, redirect, render, DateView, PageError, Visitor};
use crate::app::{paths, route_both, AppState};
use crate::crypto::{random_alphanumeric, Secret};
use crate::edge::ClientAddr;
use crate::registration::{self, Draft, Field, Problem, Registrant};
use crate::store::{AccessTokenFormat, Application, AuditKind, ClientType, GrantType, NewAuditEvent, User};

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::APPLICATIONS, get(list));
    let router = route_both(router, paths::APPLICATION_REGISTER, get(register_page).post(register));
    let router = route_both(router, paths::APPLICATION_DETAIL, get(detail));
    let router = route_both(router, paths::APPLICATION_UPDATE, get(edit_page).post(update));
    let router = route_both(router, paths::APPLICATION_DELETE, get(delete_page).post(delete));
    route_both(router, paths::APPLICATION_SECRET, post(new_secret))
}

// Helpers the authorized-token pages share.

/// A path constant with its `{id}` filled in.
pub(super) fn with_id(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
}

/// The path and query of a request, for [`login_redirect`].
pub(super) fn here(uri: &Uri) -> &str {
    uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path())
}

/// A record id from a path. Anything that is not one names no page.
pub(super) fn parse_id(raw: &str) -> Result<i64, PageError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(PageError::NotFound)
}

/// The `done` query parameter a page is redirected to after a change, naming a notice
/// to show. Only the names the caller knows are shown, so a link cannot put words of
/// its own on the page.
pub(super) fn done(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "done").map(|(_, v)| v.into_owned())
}

/// A submitted form, in order, with repeated names kept (checkbox groups).
pub(super) struct FormBody(Vec<(String, String)>);

impl FormBody {
    pub(super) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The non-blank lines of a text area, trimmed.
    fn lines(&self, name: &str) -> Vec<String> {
        self.get(name).unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    pub(super) fn csrf_token(&self) -> Option<&str> {
        self.get("csrf_token")
    }
}

// Views: what the templates see.

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

#[derive(Serialize)]
struct GrantView {
    value: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
pub(super) struct ScopeView {
    name: String,
    description: String,
}

/// Each scope with the description the settings give it.
pub(super) fn scope_views<'a>(state: &AppState, scopes: impl Iterator<Item = &'a str>) -> Vec<ScopeView> {
    let descriptions = &state.config.oauth2.scopes;
    scopes
        .map(|s| ScopeView {
            name: s.to_owned(),
            description: descriptions.get(s).cloned().unwrap_or_else(|| "(no longer configured)".to_owned()),
        })
        .collect()
}

#[derive(Serialize)]
struct AppView {
    id: i64,
    client_id: String,
    name: String,
    client_type: &'static str,
    confidential: bool,
    grant_types: Vec<GrantView>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    allowed_origins: Vec<String>,
    /// `None`: every configured scope.
    scopes: Option<Vec<ScopeView>>,
    skip_authorization: bool,
    algorithm: String,
    access_token_format: &'static str,
    created: DateView,
    updated: DateView,
    detail_url: String,
    edit_url: String,
    delete_url: String,
    secret_url: String,
}

impl AppView {
    fn new(state: &AppState, app: &Application) -> Self {
        Self {
            id: app.id,
            client_id: app.client_id.clone(),
            name: app.settings.name.clone(),
            client_type: app.settings.client_type.as_str(),
            confidential: app.settings.client_type == ClientType::Confidential,
            grant_types: app
                .settings
                .grant_types
                .iter()
                .map(|g| GrantView { value: g.as_str(), label: grant_label(*g) })
                .collect(),
            redirect_uris: app.settings.redirect_uris.clone(),
            post_logout_redirect_uris: app.settings.post_logout_redirect_uris.clone(),
            allowed_origins: app.settings.allowed_origins.clone(),
            scopes: app.settings.allowed_scopes.as_ref().map(|s| scope_views(state, s.iter())),
            skip_authorization: app.settings.skip_authorization,
            algorithm: app.settings.algorithm.as_str().to_owned(),
            access_token_format: app.settings.access_token_format.as_str(),
            created: date_view(app.created_at),
            updated: date_view(app.updated_at),
            detail_url: with_id(paths::APPLICATION_DETAIL, app.id),
            edit_url: with_id(paths::APPLICATION_UPDATE, app.id),
            delete_url: with_id(paths::APPLICATION_DELETE, app.id),
            secret_url: with_id(paths::APPLICATION_SECRET, app.id),
        }
    }
}

/// How the form and the detail page name an access token format.
fn format_label(format: AccessTokenFormat) -> &'static str {
    match format {
        AccessTokenFormat::Opaque => "Opaque (checked at Portcullis; revocation is immediate)",
        AccessTokenFormat::Jwt => "JWT, RFC 9068 (APIs check it offline; valid until it expires)",
    }
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
pub(super) struct FormView {
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
}

impl FormView {
    pub(super) fn new(state: &AppState, draft: &Draft, registrant: Registrant<'_>) -> Self {
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
        }
    }
}

#[derive(Serialize)]
pub(super) struct ProblemView {
    field: &'static str,
    message: String,
}

/// `problems` as the forms show them: a summary in order, and each field's own.
pub(super) fn problem_views(problems: &[Problem]) -> (Vec<ProblemView>, BTreeMap<&'static str, Vec<String>>) {
    let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for problem in problems {
        errors.entry(problem.field.form_name()).or_default().push(problem.sentence());
    }
    let summary = problems.iter().map(|p| ProblemView { field: p.field.form_name(), message: p.sentence() }).collect();
    (summary, errors)
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

/// A new application's form starts as a confidential web application.
fn blank_draft() -> Draft {
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
    Draft {
        name: app.settings.name.clone(),
        client_type: Some(app.settings.client_type),
        grant_types: app.settings.grant_types.clone(),
        redirect_uris: app.settings.redirect_uris.clone(),
        post_logout_redirect_uris: app.settings.post_logout_redirect_uris.clone(),
        allowed_origins: app.settings.allowed_origins.clone(),
        scopes: app.settings.allowed_scopes.as_ref().map(|s| s.iter().map(str::to_owned).collect()).unwrap_or_default(),
        skip_authorization: app.settings.skip_authorization,
        algorithm: app.settings.algorithm.as_str().to_owned(),
        access_token_format: app.settings.access_token_format.as_str().to_owned(),
    }
}

/// The draft a submitted form describes, and the problems only the form can have (a
/// grant type no checkbox offers).
pub(super) fn draft_from(form: &FormBody) -> (Draft, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut grant_types = Vec::new();
    for raw in form.all("grant_type") {
        match raw.parse::<GrantType>() {
            Ok(grant) => grant_types.push(grant),
            Err(message) => problems.push(Problem::new(Field::GrantTypes, message)),
        }
    }
    let draft = Draft {
        name: form.get("name").unwrap_or_default().to_owned(),
        client_type: form.get("client_type").and_then(|t| t.parse().ok()),
        grant_types,
        redirect_uris: form.lines("redirect_uris"),
        post_logout_redirect_uris: form.lines("post_logout_redirect_uris"),
        allowed_origins: form.lines("allowed_origins"),
        scopes: form.all("scope").map(str::to_owned).collect(),
        skip_authorization: form.get("skip_authorization").is_some(),
        algorithm: form.get("algorithm").unwrap_or(registration::ALGORITHMS[0]).to_owned(),
        access_token_format: form
            .get("access_token_format")
            .unwrap_or(AccessTokenFormat::default().as_str())
            .to_owned(),
    };
    (draft, problems)
}

/// Checks a submitted form's draft for `registrant`: the settings to store, or every
/// problem with it, `problems` (the form's own) included.
pub(super) fn check(
    state: &AppState,
    draft: &Draft,
    mut problems: Vec<Problem>,
    registrant: Registrant<'_>,
) -> Result<crate::store::ApplicationSettings, Vec<Problem>> {
    match registration::validate(draft, &state.config.oauth2, registrant) {
        Ok(fields) if problems.is_empty() => Ok(fields),
        result => {
            problems.extend(result.err().unwrap_or_default());
            problems.sort_by_key(|p| p.field);
            Err(problems)
        }
    }
}

// Pages.

/// The registration form, or the edit form of `editing`, with `problems` if any,
/// offering what `registrant` may choose.
fn form_page(
    state: &AppState,
    visitor: &Visitor,
    editing: Option<&Application>,
    draft: &Draft,
    problems: &[Problem],
    registrant: Registrant<'_>,
) -> Result<Response, PageError> {
    let (summary, errors) = problem_views(problems);
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let action = match editing {
        Some(app) => with_id(paths::APPLICATION_UPDATE, app.id),
        None => paths::APPLICATION_REGISTER.to_owned(),
    };
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        state,
        "application_form.html",
        status,
        context! {
            app => editing.map(|a| AppView::new(state, a)),
            form => FormView::new(state, draft, registrant),
            problems => summary,
            errors => errors,
            action => action,
            redirect_schemes => state.config.oauth2.allowed_redirect_uri_schemes.join(", "),
            ..base_context(visitor, csrf)
        },
    )?;
    Ok(page.into_response())
}

/// An application's page; with `secret`, the one time that secret is shown.
fn detail_page(
    state: &AppState,
    visitor: &Visitor,
    app: &Application,
    secret: Option<&Secret>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        state,
        "application_detail.html",
        StatusCode::OK,
        context! {
            app => AppView::new(state, app),
            secret => secret.map(Secret::expose),
            notice => notice,
            ..base_context(visitor, csrf)
        },
    )?;
    Ok(page.into_response())
}

/// The user's application with the id in the path, or 404.
async fn owned(state: &AppState, user: &User, raw_id: &str) -> Result<Application, PageError> {
    let id = parse_id(raw_id)?;
    state.store.owned_application(user.id, id).await?.ok_or(PageError::NotFound)
}

/// `GET /o/applications/`
async fn list(State(state): State<AppState>, visitor: Visitor, uri: Uri) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let apps = state.store.applications_owned_by(user.id).await?;
    let views: Vec<AppView> = apps.iter().map(|a| AppView::new(&state, a)).collect();
    let notice = match done(&uri).as_deref() {
        Some("deleted") => Some("The application is deleted, and every token issued to it revoked."),
        _ => None,
    };
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        &state,
        "application_list.html",
        StatusCode::OK,
        context! { applications => views, notice => notice, ..base_context(&visitor, csrf) },
    )?;
    Ok(page.into_response())
}

/// `GET /o/applications/register/`
async fn register_page(State(state): State<AppState>, visitor: Visitor, uri: Uri) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let self_service = state.config.pages.self_service_grants();
    form_page(&state, &visitor, None, &blank_draft(), &[], registrant(user, &self_service, None))
}

/// `POST /o/applications/register/`: registers the application, owned by the user, and
/// shows its page with the secret, once.
async fn register(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormBody::parse(&body);
    if !visitor.csrf_ok(form.csrf_token()) {
        return Err(PageError::Csrf);
    }
    let Some(user) = &visitor.user else { return Ok(login_redirect(paths::APPLICATION_REGISTER)) };
    let self_service = state.config.pages.self_service_grants();
    let registrant = registrant(user, &self_service, None);
    let (draft, problems) = draft_from(&form);
    let fields = match check(&state, &draft, problems, registrant) {
        Ok(fields) => fields,
        Err(problems) => return form_page(&state, &visitor, None, &draft, &problems, registrant),
    };
    let secret = (fields.client_type == ClientType::Confidential).then(Secret::generate);
    let hash = secret.as_ref().map(Secret::hash);
    let app = state
        .store
        .create_application(&random_alphanumeric(32), hash.as_ref(), Some(user.id), &fields, state.clock.now())
        .await?;
    tracing::info!(user_id = user.id, client_id = %app.client_id, "application registered");
    let detail = format!("registered by its owner: {:?}, {}", app.settings.name, app.settings.client_type.as_str());
    record(&state, AuditKind::ApplicationCreated, user, &app, address, detail).await;
    detail_page(&state, &visitor, &app, secret.as_ref(), Some("The application is registered."))
}

/// `GET /o/applications/{id}/`
async fn detail(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let app = owned(&state, user, &id).await?;
    let notice = match done(&uri).as_deref() {
        Some("updated") => Some("Your changes are saved."),
        Some("consent") => Some("Your changes are saved. People will now be asked to consent to this application."),
        _ => None,
    };
    detail_page(&state, &visitor, &app, None, notice)
}

/// `GET /o/applications/{id}/update/`
async fn edit_page(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let app = owned(&state, user, &id).await?;
    let self_service = state.config.pages.self_service_grants();
    form_page(&state, &visitor, Some(&app), &draft_of(&app), &[], registrant(user, &self_service, Some(&app)))
}

/// `POST /o/applications/{id}/update/`. Making a public client confidential gives it a
/// secret, shown this once; making a confidential client public drops its secret.
async fn update(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    uri: Uri,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormBody::parse(&body);
    if !visitor.csrf_ok(form.csrf_token()) {
        return Err(PageError::Csrf);
    }
    let Some(user) = &visitor.user else { return Ok(login_redirect(uri.path())) };
    let app = owned(&state, user, &id).await?;
    let self_service = state.config.pages.self_service_grants();
    let registrant = registrant(user, &self_service, Some(&app));
    let (draft, problems) = draft_from(&form);
    let fields = match check(&state, &draft, problems, registrant) {
        Ok(fields) => fields,
        Err(problems) => return form_page(&state, &visitor, Some(&app), &draft, &problems, registrant),
    };
    let needs_secret = fields.client_type == ClientType::Confidential && app.client_secret_hash.is_none();
    let secret = needs_secret.then(Secret::generate);
    let hash = secret.as_ref().map(Secret::hash);
    let updated = state
        .store
        .update_owned_application(user.id, app.id, &fields, hash.as_ref(), state.clock.now())
        .await?
        .ok_or(PageError::NotFound)?;
    tracing::info!(user_id = user.id, client_id = %updated.client_id, "application changed");
    let detail = match (&secret, app.settings.client_type == updated.settings.client_type) {
        (Some(_), _) => "changed by its owner: made confidential, with a new secret".to_owned(),
        (None, false) => "changed by its owner: made public, its secret dropped".to_owned(),
        (None, true) => format!("changed by its owner: {}", changes(&app, &updated)),
    };
    record(&state, AuditKind::ApplicationChanged, user, &updated, address, detail).await;
    match secret {
        Some(secret) => detail_page(
            &state,
            &visitor,
            &updated,
            Some(&secret),
            Some("Your changes are saved. The application is now confidential, with the client secret below."),
        ),
        None => {
            // Say so when the change ended skipping consent (see `registration::Registrant`).
            let done = if app.settings.skip_authorization && !updated.settings.skip_authorization {
                "consent"
            } else {
                "updated"
            };
            Ok(redirect(
                StatusCode::SEE_OTHER,
                &format!("{}?done={done}", with_id(paths::APPLICATION_DETAIL, updated.id)),
                None,
            ))
        }
    }
}

/// `GET /o/applications/{id}/delete/`: asks first.
async fn delete_page(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let app = owned(&state, user, &id).await?;
    let csrf = visitor.csrf_token().unwrap_or_default();
    let page = render(
        &state,
        "application_confirm_delete.html",
        StatusCode::OK,
        context! { app => AppView::new(&state, &app), ..base_context(&visitor, csrf) },
    )?;
    Ok(page.into_response())
}

/// `POST /o/applications/{id}/delete/`: deletes the application; its tokens, codes and
/// consents go with it.
async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    uri: Uri,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormBody::parse(&body);
    if !visitor.csrf_ok(form.csrf_token()) {
        return Err(PageError::Csrf);
    }
    let Some(user) = &visitor.user else { return Ok(login_redirect(uri.path())) };
    let app = owned(&state, user, &id).await?;
    if !state.store.delete_owned_application(user.id, app.id).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(user_id = user.id, client_id = %app.client_id, "application deleted");
    let detail = format!("deleted by its owner, with its tokens: {:?}", app.settings.name);
    record(&state, AuditKind::ApplicationDeleted, user, &app, address, detail).await;
    Ok(redirect(StatusCode::SEE_OTHER, &format!("{}?done=deleted", paths::APPLICATIONS), None))
}

/// `POST /o/applications/{id}/secret/`: a new secret for a confidential client, shown
/// this once; the old one stops working at once.
async fn new_secret(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormBody::parse(&body);
    if !visitor.csrf_ok(form.csrf_token()) {
        return Err(PageError::Csrf);
    }
    let Some(user) = &visitor.user else {
        let detail = parse_id(&id).map(|id| with_id(paths::APPLICATION_DETAIL, id));
        return Ok(login_redirect(detail.as_deref().unwrap_or(paths::APPLICATIONS)));
    };
    let app = owned(&state, user, &id).await?;
    if app.settings.client_type != ClientType::Confidential {
        return Err(PageError::BadRequest(
            "A public client has no secret: it identifies itself by its client id alone.".into(),
        ));
    }
    let secret = Secret::generate();
    let now = state.clock.now();
    if !state.store.replace_client_secret(user.id, app.id, &secret.hash(), now).await? {
        return Err(PageError::NotFound);
    }
    let app = state.store.owned_application(user.id, app.id).await?.ok_or(PageError::NotFound)?;
    tracing::info!(user_id = user.id, client_id = %app.client_id, "client secret replaced");
    let detail = "a new secret made by its owner; the old one no longer works";
    record(&state, AuditKind::ApplicationSecretReset, user, &app, address, detail).await;
    detail_page(
        &state,
        &visitor,
        &app,
        Some(&secret),
        Some("A new client secret is made. The old one no longer works."),
    )
}

/// Records what the owner `user` did to `app`.
async fn record(
    state: &AppState,
    kind: AuditKind,
    user: &User,
    app: &Application,
    address: Option<std::net::IpAddr>,
    detail: impl AsRef<str>,
) {
    let event = NewAuditEvent::new(kind, state.clock.now()).user(user.id).client(&app.client_id).addr(address);
    state.audit.record(event.detail(detail)).await;
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
    ];
    let names: Vec<&str> = differ.iter().filter(|(_, changed)| *changed).map(|(name, _)| *name).collect();
    if names.is_empty() {
        "nothing changed".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_keep_repeated_fields_and_lines() {
        let form = FormBody::parse(
            b"name=Shop&grant_type=password&grant_type=client-credentials&redirect_uris=+https%3A%2F%2Fa%2Fcb%0D%0A%0D%0Ahttps%3A%2F%2Fb%2Fcb+&skip_authorization=on",
        );
        assert_eq!(form.all("grant_type").collect::<Vec<_>>(), vec!["password", "client-credentials"]);
        assert_eq!(form.lines("redirect_uris"), vec!["https://a/cb", "https://b/cb"]);
        let (draft, problems) = draft_from(&form);
        assert!(problems.is_empty());
        assert_eq!(draft.grant_types, vec![GrantType::Password, GrantType::ClientCredentials]);
        assert!(draft.skip_authorization && draft.client_type.is_none() && draft.algorithm == "RS256");
        let (_, problems) = draft_from(&FormBody::parse(b"grant_type=teleport"));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, Field::GrantTypes);
    }

    #[test]
    fn ids_and_dates() {
        assert_eq!(parse_id("42").ok(), Some(42));
        for bad in ["0", "-1", "x", "", "1.5", "99999999999999999999"] {
            assert!(matches!(parse_id(bad), Err(PageError::NotFound)), "{bad}");
        }
        let date = date_view(1_800_000_000);
        assert_eq!((date.iso.as_str(), date.text.as_str()), ("2027-01-15T08:00:00Z", "2027-01-15 08:00 UTC"));
        assert_eq!(with_id(paths::APPLICATION_UPDATE, 7), "/o/applications/7/update/");
    }
}
