//! `/admin/applications/`: every user's applications, and any one's settings form,
//! read by the rules `portcullis app create` follows.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{format_utc, notice, offset, page_number, search, with_query, AdminBase, Pager, Staff, PER_PAGE};
use crate::http::edge::ClientAddr;
use crate::http::AppState;
use crate::pages::application_form::{changes, check, draft_of, ApplicationForm, FormView};
use crate::pages::{parse_id, redirect, render, with_id, CsrfForm, Done, NoFields, Page, PageError, Query};
use crate::paths;
use crate::registration::{Draft, Problem, Registrant};
use crate::store::{Application, ApplicationListing, AuditKind, Listing};

#[derive(Serialize)]
struct ApplicationView {
    id: i64,
    url: String,
    name: String,
    client_id: String,
    client_type: &'static str,
    grant_types: Vec<&'static str>,
    redirect_uris: Vec<String>,
    allowed_scopes: Option<String>,
    skip_authorization: bool,
    algorithm: String,
    access_token_format: &'static str,
    resource_server_uris: Vec<String>,
    owner: Option<String>,
    owner_url: Option<String>,
    created_at: String,
    updated_at: String,
}

impl ApplicationView {
    fn new(app: &Application, owner: Option<String>) -> Self {
        Self {
            id: app.id,
            url: with_id(paths::ADMIN_APPLICATION, app.id),
            name: app.settings.name.clone(),
            client_id: app.client_id.clone(),
            client_type: app.settings.client_type.as_str(),
            grant_types: app.settings.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: app.settings.redirect_uris.clone(),
            allowed_scopes: app.settings.allowed_scopes.as_ref().map(ToString::to_string),
            skip_authorization: app.settings.skip_authorization,
            algorithm: app.settings.algorithm.to_string(),
            access_token_format: app.settings.access_token_format.as_str(),
            resource_server_uris: app.settings.resource_server_uris.clone(),
            owner,
            owner_url: app.owner_id.map(|id| with_id(paths::ADMIN_USER, id)),
            created_at: format_utc(app.created_at),
            updated_at: format_utc(app.updated_at),
        }
    }
}

/// `admin/applications.html`.
#[derive(Serialize)]
struct ApplicationsPage<'a> {
    applications: Vec<ApplicationView>,
    q: &'a str,
    pager: Pager,
    notice: Option<&'static str>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for ApplicationsPage<'_> {
    const TEMPLATE: &'static str = "admin/applications.html";
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    q: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// `GET /admin/applications/?q=&page=`: every user's applications whose name or
/// client id contains `q`.
pub(super) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let (q, page) = (search(query.q.as_deref())?, page_number(query.page.as_deref())?);
    let Listing { items, total } = state.store.list_all_applications(q, PER_PAGE, offset(page)).await?;
    let link = |n: i64| with_query(paths::ADMIN_APPLICATIONS, &[("q", q), ("page", &n.to_string())]);
    let page = ApplicationsPage {
        applications: items
            .into_iter()
            .map(|ApplicationListing { app, owner }| ApplicationView::new(&app, owner))
            .collect(),
        q,
        pager: Pager::new(page, total, link),
        notice: notice(query.done.as_deref()),
        admin: staff.base("applications"),
    };
    Ok(render(&state, &page)?.into_response())
}

/// `admin/application.html`: the application, its settings form, and deleting it.
#[derive(Serialize)]
struct ApplicationPage<'a> {
    application: ApplicationView,
    #[serde(flatten)]
    form: FormView,
    tokens_url: String,
    update_action: String,
    delete_action: String,
    notice: Option<&'static str>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for ApplicationPage<'_> {
    const TEMPLATE: &'static str = "admin/application.html";
}

async fn find_application(state: &AppState, id: &str) -> Result<Application, PageError> {
    state.store.application_by_id(parse_id(id)?).await?.ok_or(PageError::NotFound)
}

/// The application's page, with its settings form showing `draft` and `problems`.
async fn application_page(
    state: &AppState,
    staff: &Staff,
    app: &Application,
    draft: &Draft,
    problems: &[Problem],
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let owner = match app.owner_id {
        Some(owner_id) => state.store.user_by_id(owner_id).await?.map(|u| u.username),
        None => None,
    };
    let form = FormView::new(state, draft, problems, Registrant::Staff);
    let status = if form.has_problems() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = ApplicationPage {
        application: ApplicationView::new(app, owner),
        form,
        tokens_url: with_query(paths::ADMIN_TOKENS, &[("app", &app.client_id)]),
        update_action: with_id(paths::ADMIN_APPLICATION_UPDATE, app.id),
        delete_action: with_id(paths::ADMIN_APPLICATION_DELETE, app.id),
        notice,
        admin: staff.base("applications"),
    };
    Ok(render(state, &page)?.status(status).into_response())
}

/// `GET /admin/applications/{id}/` (and `…/update/`): the application and the form
/// that changes it.
pub(super) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(query): Query<Done>,
) -> Result<Response, PageError> {
    let app = find_application(&state, &id).await?;
    application_page(&state, &staff, &app, &draft_of(&app), &[], notice(query.done.as_deref())).await
}

/// `POST /admin/applications/{id}/update/`: replaces any application's settings, by
/// the rules `portcullis app create` follows. Its client type stays: changing it makes
/// or drops a secret, which only its owner (or the command line) should receive.
pub(super) async fn update(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(staff, form): CsrfForm<ApplicationForm, Staff>,
) -> Result<Response, PageError> {
    let app = find_application(&state, &id).await?;
    let (mut draft, problems) = form.draft();
    draft.client_type = Some(app.settings.client_type);
    let fields = match check(&state, &draft, problems, Registrant::Staff) {
        Ok(fields) => fields,
        Err(problems) => return application_page(&state, &staff, &app, &draft, &problems, None).await,
    };
    let updated =
        state.store.update_application(app.id, &fields, state.clock.now()).await?.ok_or(PageError::NotFound)?;
    tracing::info!(staff_id = staff.user.id, client_id = %app.client_id, "admin: application changed");
    let detail = format!("admin pages: changed {:?}: {}", updated.settings.name, changes(&app, &updated));
    staff.record(&state, AuditKind::ApplicationChanged, address, Some(&app.client_id), detail).await;
    let to = with_query(&with_id(paths::ADMIN_APPLICATION, app.id), &[("done", "updated")]);
    Ok(redirect(StatusCode::SEE_OTHER, &to, None))
}

/// `POST /admin/applications/{id}/delete/`: deletes the application and, with it,
/// every token, code and consent it holds.
pub(super) async fn delete(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(staff, _): CsrfForm<NoFields, Staff>,
) -> Result<Response, PageError> {
    let app = find_application(&state, &id).await?;
    if !state.store.delete_application(&app.client_id).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = staff.user.id, client_id = %app.client_id, "admin: application deleted");
    let detail = format!("admin pages: deleted with its tokens: {:?}", app.settings.name);
    staff.record(&state, AuditKind::ApplicationDeleted, address, Some(&app.client_id), detail).await;
    Ok(redirect(StatusCode::SEE_OTHER, &with_query(paths::ADMIN_APPLICATIONS, &[("done", "deleted")]), None))
}
