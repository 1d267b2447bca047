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

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::{StatusCode, Uri};
use serde::Serialize;

use super::application_form::{blank_draft, changes, check, draft_of, grant_label, registrant};
use super::application_form::{ApplicationForm, FormView};
use super::{date_view, here, login_redirect, parse_id, redirect, render, scope_views, with_id};
use super::{Base, CsrfForm, DateView, Done, Page, PageError, Query, ScopeView, Visitor};
use crate::crypto::{random_alphanumeric, Secret};
use crate::http::edge::ClientAddr;
use crate::http::{route_both, AppState};
use crate::paths;
use crate::proto::ClientType;
use crate::registration::{Draft, Problem, Registrant};
use crate::store::{Application, AuditKind, NewAuditEvent, User};

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::APPLICATIONS, get(list));
    let router = route_both(router, paths::APPLICATION_REGISTER, get(register_page).post(register));
    let router = route_both(router, paths::APPLICATION_DETAIL, get(detail));
    let router = route_both(router, paths::APPLICATION_UPDATE, get(edit_page).post(update));
    let router = route_both(router, paths::APPLICATION_DELETE, get(delete_page).post(delete));
    route_both(router, paths::APPLICATION_SECRET, post(new_secret))
}

#[derive(Serialize)]
struct GrantView {
    value: &'static str,
    label: &'static str,
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
    resource_server_uris: Vec<String>,
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
            resource_server_uris: app.settings.resource_server_uris.clone(),
            created: date_view(app.created_at),
            updated: date_view(app.updated_at),
            detail_url: with_id(paths::APPLICATION_DETAIL, app.id),
            edit_url: with_id(paths::APPLICATION_UPDATE, app.id),
            delete_url: with_id(paths::APPLICATION_DELETE, app.id),
            secret_url: with_id(paths::APPLICATION_SECRET, app.id),
        }
    }
}

/// `application_list.html`: the user's applications.
#[derive(Serialize)]
struct ListPage<'a> {
    applications: Vec<AppView>,
    notice: Option<&'static str>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for ListPage<'_> {
    const TEMPLATE: &'static str = "application_list.html";
}

/// `application_form.html`: registering (no `app`) or editing one.
#[derive(Serialize)]
struct FormPage<'a> {
    app: Option<AppView>,
    action: String,
    #[serde(flatten)]
    form: FormView,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for FormPage<'_> {
    const TEMPLATE: &'static str = "application_form.html";
}

/// `application_detail.html`; with `secret`, the one time it is shown.
#[derive(Serialize)]
struct DetailPage<'a> {
    app: AppView,
    secret: Option<&'a str>,
    notice: Option<&'a str>,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for DetailPage<'_> {
    const TEMPLATE: &'static str = "application_detail.html";
}

/// `application_confirm_delete.html`: the question before deleting.
#[derive(Serialize)]
struct DeletePage<'a> {
    app: AppView,
    #[serde(flatten)]
    base: Base<'a>,
}

impl Page for DeletePage<'_> {
    const TEMPLATE: &'static str = "application_confirm_delete.html";
}

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
    let form = FormView::new(state, draft, problems, registrant);
    let status = if form.has_problems() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let action = match editing {
        Some(app) => with_id(paths::APPLICATION_UPDATE, app.id),
        None => paths::APPLICATION_REGISTER.to_owned(),
    };
    let page = FormPage { app: editing.map(|a| AppView::new(state, a)), action, form, base: Base::of(visitor) };
    Ok(render(state, &page)?.status(status).into_response())
}

/// An application's page; with `secret`, the one time that secret is shown.
fn detail_page(
    state: &AppState,
    visitor: &Visitor,
    app: &Application,
    secret: Option<&Secret>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let page = DetailPage {
        app: AppView::new(state, app),
        secret: secret.map(Secret::expose),
        notice,
        base: Base::of(visitor),
    };
    Ok(render(state, &page)?.into_response())
}

/// The user's application with the id in the path, or 404.
async fn owned(state: &AppState, user: &User, raw_id: &str) -> Result<Application, PageError> {
    let id = parse_id(raw_id)?;
    state.store.owned_application(user.id, id).await?.ok_or(PageError::NotFound)
}

/// `GET /o/applications/`
async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
    Query(query): Query<Done>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let apps = state.store.applications_owned_by(user.id).await?;
    let notice = match query.done.as_deref() {
        Some("deleted") => Some("The application is deleted, and every token issued to it revoked."),
        _ => None,
    };
    let applications = apps.iter().map(|a| AppView::new(&state, a)).collect();
    Ok(render(&state, &ListPage { applications, notice, base: Base::of(&visitor) })?.into_response())
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
    ClientAddr { ip: address, .. }: ClientAddr,
    CsrfForm(visitor, form): CsrfForm<ApplicationForm>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(paths::APPLICATION_REGISTER)) };
    let self_service = state.config.pages.self_service_grants();
    let registrant = registrant(user, &self_service, None);
    let (draft, problems) = form.draft();
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
    Query(query): Query<Done>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(here(&uri))) };
    let app = owned(&state, user, &id).await?;
    let notice = match query.done.as_deref() {
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
    ClientAddr { ip: address, .. }: ClientAddr,
    uri: Uri,
    Path(id): Path<String>,
    CsrfForm(visitor, form): CsrfForm<ApplicationForm>,
) -> Result<Response, PageError> {
    let Some(user) = &visitor.user else { return Ok(login_redirect(uri.path())) };
    let app = owned(&state, user, &id).await?;
    let self_service = state.config.pages.self_service_grants();
    let registrant = registrant(user, &self_service, Some(&app));
    let (draft, problems) = form.draft();
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
    Ok(render(&state, &DeletePage { app: AppView::new(&state, &app), base: Base::of(&visitor) })?.into_response())
}

/// `POST /o/applications/{id}/delete/`: deletes the application; its tokens, codes and
/// consents go with it.
async fn delete(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    uri: Uri,
    Path(id): Path<String>,
    CsrfForm(visitor, _): CsrfForm,
) -> Result<Response, PageError> {
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
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(visitor, _): CsrfForm,
) -> Result<Response, PageError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
