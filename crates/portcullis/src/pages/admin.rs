//! `/admin/`: staff-only pages for users, applications and tokens, as Django's admin
//! site serves them for django-oauth-toolkit. Staff change any application here with
//! the rules of `registration` for staff: skip authorization and every grant type
//! included, which the self-service pages keep from other users.
//!
//! Every page needs a logged-in staff member ([`Staff`]): strangers are sent to log in,
//! other users get a 403. Every form checks the session's CSRF token before anything
//! else, and each change is one store call (one transaction), so a refused or failed
//! request changes nothing. Forms answer with `303 See Other` to the page that shows the
//! result, carrying a `done` code that names one of a fixed set of notices.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use http::{StatusCode, Uri};
use minijinja::{context, Value};
use serde::Serialize;

use super::applications::{changes, check, draft_from, draft_of, problem_views, FormBody, FormView};
use super::{base_context, date_view, login_redirect, redirect, render, PageError, Visitor};
use crate::accounts::{self, AccountError, NewAccount};
use crate::app::{paths, route_both, AppState};
use crate::edge::ClientAddr;
use crate::registration::{Draft, Problem, Registrant};
use crate::store::{
    AccessTokenListing, Application, ApplicationListing, AuditEvent, AuditFilter, AuditKind, Listing, NewAuditEvent,
    TokenFilter, User,
};

/// Rows per page of every list.
const PER_PAGE: i64 = 50;
/// The highest page number accepted: far beyond any real list, low enough that the
/// offset never overflows.
const MAX_PAGE: i64 = 1_000_000;
/// The longest search text or filter value accepted.
const MAX_SEARCH: usize = 255;
/// Django's limit on group names.
const MAX_GROUP_NAME: usize = 150;

pub fn router() -> Router<AppState> {
    let router = route_both(Router::new(), paths::ADMIN, get(index));
    let router = route_both(router, paths::ADMIN_USERS, get(users));
    let router = route_both(router, paths::ADMIN_USER_NEW, get(new_user).post(create_user));
    let router = route_both(router, paths::ADMIN_USER, get(user));
    let router = route_both(router, paths::ADMIN_USER_ACTIVE, post(set_active));
    let router = route_both(router, paths::ADMIN_USER_PASSWORD, post(reset_password));
    let router = route_both(router, paths::ADMIN_USER_GROUPS, post(set_groups));
    let router = route_both(router, paths::ADMIN_APPLICATIONS, get(applications));
    let router = route_both(router, paths::ADMIN_APPLICATION, get(application));
    let router = route_both(router, paths::ADMIN_APPLICATION_UPDATE, get(application).post(update_application));
    let router = route_both(router, paths::ADMIN_APPLICATION_DELETE, post(delete_application));
    let router = route_both(router, paths::ADMIN_TOKENS, get(tokens));
    let router = route_both(router, paths::ADMIN_TOKEN_REVOKE, post(revoke_token));
    route_both(router, paths::ADMIN_AUDIT, get(audit))
}

/// A logged-in staff member (superusers are staff). As an extractor it answers for
/// everyone else: a redirect to the login page for strangers, 403 for other users.
pub struct Staff {
    pub visitor: Visitor,
    pub user: User,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Some(user) = visitor.user.clone() else {
            return Err(login_redirect(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(paths::ADMIN)));
        };
        if !(user.is_staff || user.is_superuser) {
            tracing::info!(user_id = user.id, "admin refused: not staff");
            return Err(PageError::Forbidden.into_response());
        }
        Ok(Self { visitor, user })
    }
}

impl Staff {
    /// The context every admin page gets; `section` marks the current navigation link.
    fn context(&self, section: &str) -> Value {
        context! { section, ..base_context(&self.visitor, self.visitor.csrf_token().unwrap_or_default()) }
    }

    /// Refuses a form whose `csrf_token` is not this session's.
    fn check_csrf(&self, form: &Fields) -> Result<(), PageError> {
        if self.visitor.csrf_ok(form.get("csrf_token")) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }

    /// Records what this staff member did, from `address`, about `client` if any.
    async fn record(
        &self,
        state: &AppState,
        kind: AuditKind,
        address: Option<std::net::IpAddr>,
        client: Option<&str>,
        detail: impl AsRef<str>,
    ) {
        let mut event = NewAuditEvent::new(kind, state.clock.now()).user(self.user.id).addr(address);
        if let Some(client_id) = client {
            event = event.client(client_id);
        }
        state.audit.record(event.detail(detail)).await;
    }

    /// Only a superuser may change a superuser's account: otherwise any staff member
    /// could take one over by setting its password.
    fn may_change(&self, target: &User) -> bool {
        !target.is_superuser || self.user.is_superuser
    }
}

/// Name-value pairs from a query string or a form body. Parsing never fails: a
/// missing or mangled field is simply absent, and each handler says what it needs.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).into_owned().collect())
    }

    fn query(uri: &Uri) -> Self {
        Self::parse(uri.query().unwrap_or_default().as_bytes())
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, trimmed; empty when absent.
    fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or_default()
    }

    /// A search text or filter value, at most [`MAX_SEARCH`] characters.
    fn search(&self, name: &str) -> Result<&str, PageError> {
        let value = self.text(name);
        if value.chars().count() > MAX_SEARCH {
            return Err(PageError::BadRequest(format!(
                "The search text is too long: at most {MAX_SEARCH} characters."
            )));
        }
        Ok(value)
    }

    /// The `page` number: absent or empty means 1.
    fn page(&self) -> Result<i64, PageError> {
        match self.text("page") {
            "" => Ok(1),
            text => text.parse().ok().filter(|page| (1..=MAX_PAGE).contains(page)).ok_or_else(|| {
                PageError::BadRequest(format!("The page number must be a whole number from 1 to {MAX_PAGE}."))
            }),
        }
    }

    /// The notice a form's redirect asked for, from a fixed list.
    fn notice(&self) -> Option<&'static str> {
        Some(match self.get("done")? {
            "created" => "The user was created.",
            "deactivated" => "The user was deactivated: they cannot log in, and their tokens are refused.",
            "reactivated" => "The user was reactivated: they can log in, and their unexpired tokens work again.",
            "password" => {
                "The password was changed, and the user's other sessions were ended. Tokens already issued to them \
                 stay valid until they expire or are revoked."
            }
            "password_revoked" => {
                "The password was changed, the user's other sessions were ended, and every token issued to them was \
                 revoked."
            }
            "groups" => "The groups were saved.",
            "deleted" => "The application and all its tokens were deleted.",
            "updated" => "The application's settings were saved.",
            "revoked" => "The token was revoked.",
            "grant_revoked" => "The token and every token of its grant were revoked.",
            _ => return None,
        })
    }
}

/// An id from the path; anything but a number names nothing.
fn parse_id(id: &str) -> Result<i64, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

/// A path constant with its `{id}` filled in.
fn at(path: &str, id: i64) -> String {
    path.replace("{id}", &id.to_string())
}

/// `path` with a query string of the non-empty `pairs`.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Unix seconds as a UTC date and time, `YYYY-MM-DD HH:MM`.
pub fn format_utc(seconds: i64) -> String {
    // The same clock reading as every other page, without the zone (the admin says
    // once that its times are UTC).
    date_view(seconds).text.trim_end_matches(" UTC").to_owned()
}

/// The paging links of a list.
#[derive(Serialize)]
struct Pager {
    page: i64,
    pages: i64,
    total: i64,
    previous: Option<String>,
    next: Option<String>,
}

impl Pager {
    /// `link(n)` is the URL of page `n`.
    fn new(page: i64, total: i64, link: impl Fn(i64) -> String) -> Self {
        let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
        Self {
            page,
            pages,
            total,
            previous: (page > 1).then(|| link((page - 1).min(pages))),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

fn offset(page: i64) -> i64 {
    (page - 1) * PER_PAGE
}

// --- Index ---

/// `GET /admin/`: counts and links.
async fn index(State(state): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    let users = state.store.count_users().await?;
    let applications = state.store.count_applications().await?;
    let live_tokens = state.store.count_live_tokens(state.clock.now()).await?;
    let page = render(
        &state,
        "admin/index.html",
        StatusCode::OK,
        context! { users, applications, live_tokens, ..staff.context("index") },
    )?;
    Ok(page.into_response())
}

// --- Users ---

#[derive(Serialize)]
struct UserRow {
    id: i64,
    url: String,
    username: String,
    email: String,
    first_name: String,
    last_name: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    date_joined: String,
    last_login: Option<String>,
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            url: at(paths::ADMIN_USER, user.id),
            username: user.username.clone(),
            email: user.email.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            is_active: user.is_active,
            is_staff: user.is_staff || user.is_superuser,
            is_superuser: user.is_superuser,
            date_joined: format_utc(user.date_joined),
            last_login: user.last_login.map(format_utc),
        }
    }
}

/// `GET /admin/users/?q=&page=`: users whose username or email contains `q`.
async fn users(State(state): State<AppState>, staff: Staff, uri: Uri) -> Result<Response, PageError> {
    let query = Fields::query(&uri);
    let (q, page) = (query.search("q")?, query.page()?);
    let Listing { items, total } = state.store.list_users(q, PER_PAGE, offset(page)).await?;
    let pager = Pager::new(page, total, |n| with_query(paths::ADMIN_USERS, &[("q", q), ("page", &n.to_string())]));
    let rows: Vec<UserRow> = items.iter().map(UserRow::from).collect();
    let page = render(
        &state,
        "admin/users.html",
        StatusCode::OK,
        context! { users => rows, q, pager, ..staff.context("users") },
    )?;
    Ok(page.into_response())
}

/// The new-user form, empty or as sent with an error.
fn new_user_page(
    state: &AppState,
    staff: &Staff,
    form: Option<&Fields>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = render(
        state,
        "admin/user_new.html",
        status,
        context! {
            username => form.map(|f| f.text("username")).unwrap_or_default(),
            email => form.map(|f| f.text("email")).unwrap_or_default(),
            is_staff => form.is_some_and(|f| f.get("is_staff").is_some()),
            error,
            ..staff.context("users")
        },
    )?;
    Ok(page.into_response())
}

/// `GET /admin/users/new/`.
async fn new_user(State(state): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    new_user_page(&state, &staff, None, None)
}

/// `POST /admin/users/new/`: creates the user with the rules and hashing of
/// `portcullis user create`.
async fn create_user(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Fields::parse(&body);
    staff.check_csrf(&form)?;
    let password = form.get("password1").unwrap_or_default();
    if password != form.get("password2").unwrap_or_default() {
        return new_user_page(&state, &staff, Some(&form), Some("The two passwords differ.".into()));
    }
    let account = NewAccount {
        username: form.text("username").to_owned(),
        email: form.text("email").to_owned(),
        password: password.to_owned(),
        is_staff: form.get("is_staff").is_some(),
        is_superuser: false,
    };
    match accounts::create(state.store.as_ref(), account, state.clock.now()).await {
        Ok(user) => {
            tracing::info!(
                staff_id = staff.user.id,
                user_id = user.id,
                is_staff = user.is_staff,
                "admin: user created"
            );
            let role = if user.is_staff { "staff" } else { "ordinary" };
            let detail = format!("admin pages: user {} ({}), {role}", user.id, user.username);
            staff.record(&state, AuditKind::UserCreated, address, None, detail).await;
            let to = with_query(&at(paths::ADMIN_USER, user.id), &[("done", "created")]);
            Ok(redirect(StatusCode::SEE_OTHER, &to, None))
        }
        Err(error) => {
            let message = account_error(error)?;
            new_user_page(&state, &staff, Some(&form), Some(message))
        }
    }
}

/// The message for an account rule the input broke; other failures stay errors.
fn account_error(error: AccountError) -> Result<String, PageError> {
    match error {
        AccountError::BadUsername(_) => {
            Ok("The username must be 1 to 150 letters, digits or @ . + - _ (no spaces).".into())
        }
        AccountError::BadEmail(_) => Ok("The email address is not valid.".into()),
        AccountError::Taken(_) => Ok("A user with that username already exists.".into()),
        AccountError::Password(crate::password::PasswordError::Hashing) => {
            Err(PageError::Internal("password hashing failed".into()))
        }
        AccountError::Password(rule) => Ok(sentence(&rule.to_string())),
        AccountError::Store(e) => Err(e.into()),
    }
}

/// A message as a sentence: capital first letter, full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    format!("{first}{}.", chars.as_str())
}

/// What the user page shows beside its forms.
#[derive(Default)]
struct UserPageState<'a> {
    notice: Option<&'static str>,
    /// Which form failed (`active`, `password` or `groups`) and why.
    error: Option<(&'static str, String)>,
    /// The groups as typed, when that form failed.
    groups_input: Option<&'a str>,
}

async fn user_page(
    state: &AppState,
    staff: &Staff,
    target: &User,
    shown: UserPageState<'_>,
) -> Result<Response, PageError> {
    let groups = state.store.user_groups(target.id).await?;
    let status = if shown.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let (error_form, error) = shown.error.map_or((None, None), |(form, message)| (Some(form), Some(message)));
    let page = render(
        state,
        "admin/user.html",
        status,
        context! {
            target => UserRow::from(target),
            groups => groups.clone(),
            groups_input => shown.groups_input.map_or_else(|| groups.join(", "), str::to_owned),
            tokens_url => with_query(paths::ADMIN_TOKENS, &[("user", &target.username)]),
            active_action => at(paths::ADMIN_USER_ACTIVE, target.id),
            password_action => at(paths::ADMIN_USER_PASSWORD, target.id),
            groups_action => at(paths::ADMIN_USER_GROUPS, target.id),
            is_self => target.id == staff.user.id,
            may_change => staff.may_change(target),
            notice => shown.notice,
            error_form,
            error,
            ..staff.context("users")
        },
    )?;
    Ok(page.into_response())
}

async fn find_user(state: &AppState, id: &str) -> Result<User, PageError> {
    state.store.user_by_id(parse_id(id)?).await?.ok_or(PageError::NotFound)
}

/// `GET /admin/users/{id}/`.
async fn user(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, PageError> {
    let target = find_user(&state, &id).await?;
    let shown = UserPageState { notice: Fields::query(&uri).notice(), ..Default::default() };
    user_page(&state, &staff, &target, shown).await
}

/// Loads the user a form is about, after the CSRF check, refusing staff who may not
/// change them.
async fn user_for_change(state: &AppState, staff: &Staff, id: &str, form: &Fields) -> Result<User, PageError> {
    staff.check_csrf(form)?;
    let target = find_user(state, id).await?;
    if !staff.may_change(&target) {
        tracing::info!(staff_id = staff.user.id, user_id = target.id, "admin refused: superuser account");
        return Err(PageError::Forbidden);
    }
    Ok(target)
}

fn user_done(id: i64, done: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, &with_query(&at(paths::ADMIN_USER, id), &[("done", done)]), None)
}

/// `POST /admin/users/{id}/active/` with `active` = `1` or `0`. Deactivating ends the
/// user's sessions; their tokens are refused while they stay inactive.
async fn set_active(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Fields::parse(&body);
    let target = user_for_change(&state, &staff, &id, &form).await?;
    let active = match form.get("active") {
        Some("1") => true,
        Some("0") => false,
        _ => return Err(PageError::BadRequest("Say whether to activate (1) or deactivate (0) the user.".into())),
    };
    if !active && target.id == staff.user.id {
        let error = Some(("active", "You cannot deactivate your own account: ask another staff member.".to_owned()));
        return user_page(&state, &staff, &target, UserPageState { error, ..Default::default() }).await;
    }
    if !state.store.set_user_active(target.id, active).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = staff.user.id, user_id = target.id, active, "admin: user activity changed");
    let change = if active { "reactivated" } else { "deactivated" };
    let detail = format!("admin pages: user {} ({}) {change}", target.id, target.username);
    staff.record(&state, AuditKind::UserChanged, address, None, detail).await;
    Ok(user_done(target.id, if active { "reactivated" } else { "deactivated" }))
}

/// `POST /admin/users/{id}/password/` with the new password twice, and `revoke_tokens`
/// when the box is ticked. Ends the user's other sessions; the staff member's own
/// session survives a change of their own. Tokens already issued stay valid unless the
/// box asks to revoke them (with what would buy new ones: unused codes, approved device
/// grants): a reset may be routine (a forgotten password), when cutting off every
/// application the user signed in to would only hurt, or the answer to a stolen one.
async fn reset_password(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Fields::parse(&body);
    let target = user_for_change(&state, &staff, &id, &form).await?;
    let password = form.get("password1").unwrap_or_default();
    let refuse = |message: String| UserPageState { error: Some(("password", message)), ..Default::default() };
    if password != form.get("password2").unwrap_or_default() {
        return user_page(&state, &staff, &target, refuse("The two passwords differ.".into())).await;
    }
    let hash = match accounts::hash_password(password.to_owned()).await {
        Ok(hash) => hash,
        Err(error) => return user_page(&state, &staff, &target, refuse(account_error(error)?)).await,
    };
    let keep =
        if target.id == staff.user.id { staff.visitor.session.as_ref().map(|(session, _)| session) } else { None };
    let revoke_tokens = form.get("revoke_tokens").is_some();
    let revoke_at = revoke_tokens.then(|| state.clock.now());
    let Some(revoked) = state.store.reset_password(target.id, &hash, keep, revoke_at).await? else {
        return Err(PageError::NotFound);
    };
    tracing::info!(staff_id = staff.user.id, user_id = target.id, revoke_tokens, revoked, "admin: password reset");
    let tokens = if revoke_tokens { format!("{revoked} tokens revoked") } else { "tokens kept".to_owned() };
    let detail = format!(
        "admin pages: user {} ({}) given a new password, other sessions ended, {tokens}",
        target.id, target.username
    );
    staff.record(&state, AuditKind::UserChanged, address, None, detail).await;
    if revoke_tokens {
        let detail = format!(
            "admin pages: every token of user {} ({}) revoked with a new password: {revoked} access and refresh tokens",
            target.id, target.username
        );
        staff.record(&state, AuditKind::AdminTokenRevoked, address, None, detail).await;
    }
    Ok(user_done(target.id, if revoke_tokens { "password_revoked" } else { "password" }))
}

/// Group names from text separated by commas or white space: sorted, without
/// duplicates. Each name is at most [`MAX_GROUP_NAME`] characters.
fn parse_groups(text: &str) -> Result<Vec<String>, String> {
    let mut groups: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = groups.iter().find(|g| g.chars().count() > MAX_GROUP_NAME || g.chars().any(char::is_control)) {
        let shown: String = bad.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(format!(
            "The group name {shown:?} is not valid: at most {MAX_GROUP_NAME} characters, no control characters."
        ));
    }
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// `POST /admin/users/{id}/groups/` with `groups`: replaces the user's groups.
async fn set_groups(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Fields::parse(&body);
    let target = user_for_change(&state, &staff, &id, &form).await?;
    let typed = form.get("groups").unwrap_or_default();
    let groups = match parse_groups(typed) {
        Ok(groups) => groups,
        Err(message) => {
            let shown = UserPageState { error: Some(("groups", message)), groups_input: Some(typed), notice: None };
            return user_page(&state, &staff, &target, shown).await;
        }
    };
    if !state.store.set_user_groups(target.id, &groups).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = staff.user.id, user_id = target.id, groups = groups.len(), "admin: groups set");
    let listed = if groups.is_empty() { "none".to_owned() } else { groups.join(", ") };
    let detail = format!("admin pages: user {} ({}) groups set to {listed}", target.id, target.username);
    staff.record(&state, AuditKind::UserChanged, address, None, detail).await;
    Ok(user_done(target.id, "groups"))
}

// --- Applications ---

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
    owner: Option<String>,
    owner_url: Option<String>,
    created_at: String,
    updated_at: String,
}

impl ApplicationView {
    fn new(app: &Application, owner: Option<String>) -> Self {
        Self {
            id: app.id,
            url: at(paths::ADMIN_APPLICATION, app.id),
            name: app.settings.name.clone(),
            client_id: app.client_id.clone(),
            client_type: app.settings.client_type.as_str(),
            grant_types: app.settings.grant_types.iter().map(|g| g.as_str()).collect(),
            redirect_uris: app.settings.redirect_uris.clone(),
            allowed_scopes: app.settings.allowed_scopes.as_ref().map(ToString::to_string),
            skip_authorization: app.settings.skip_authorization,
            algorithm: app.settings.algorithm.as_str().to_owned(),
            access_token_format: app.settings.access_token_format.as_str(),
            owner,
            owner_url: app.owner_id.map(|id| at(paths::ADMIN_USER, id)),
            created_at: format_utc(app.created_at),
            updated_at: format_utc(app.updated_at),
        }
    }
}

/// `GET /admin/applications/?q=&page=`: every user's applications whose name or
/// client id contains `q`.
async fn applications(State(state): State<AppState>, staff: Staff, uri: Uri) -> Result<Response, PageError> {
    let query = Fields::query(&uri);
    let (q, page) = (query.search("q")?, query.page()?);
    let Listing { items, total } = state.store.list_all_applications(q, PER_PAGE, offset(page)).await?;
    let link = |n: i64| with_query(paths::ADMIN_APPLICATIONS, &[("q", q), ("page", &n.to_string())]);
    let pager = Pager::new(page, total, link);
    let rows: Vec<ApplicationView> =
        items.into_iter().map(|ApplicationListing { app, owner }| ApplicationView::new(&app, owner)).collect();
    let page = render(
        &state,
        "admin/applications.html",
        StatusCode::OK,
        context! { applications => rows, q, pager, notice => query.notice(), ..staff.context("applications") },
    )?;
    Ok(page.into_response())
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
    let (summary, errors) = problem_views(problems);
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let page = render(
        state,
        "admin/application.html",
        status,
        context! {
            application => ApplicationView::new(app, owner),
            form => FormView::new(state, draft, Registrant::Staff),
            problems => summary,
            errors,
            redirect_schemes => state.config.oauth2.allowed_redirect_uri_schemes.join(", "),
            tokens_url => with_query(paths::ADMIN_TOKENS, &[("app", &app.client_id)]),
            update_action => at(paths::ADMIN_APPLICATION_UPDATE, app.id),
            delete_action => at(paths::ADMIN_APPLICATION_DELETE, app.id),
            notice,
            ..staff.context("applications")
        },
    )?;
    Ok(page.into_response())
}

/// `GET /admin/applications/{id}/` (and `…/update/`): the application and the form
/// that changes it.
async fn application(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, PageError> {
    let app = find_application(&state, &id).await?;
    application_page(&state, &staff, &app, &draft_of(&app), &[], Fields::query(&uri).notice()).await
}

/// `POST /admin/applications/{id}/update/`: replaces any application's settings, by
/// the rules `portcullis app create` follows. Its client type stays: changing it makes
/// or drops a secret, which only its owner (or the command line) should receive.
async fn update_application(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    staff.check_csrf(&Fields::parse(&body))?;
    let app = find_application(&state, &id).await?;
    let (mut draft, problems) = draft_from(&FormBody::parse(&body));
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
    let to = with_query(&at(paths::ADMIN_APPLICATION, app.id), &[("done", "updated")]);
    Ok(redirect(StatusCode::SEE_OTHER, &to, None))
}

/// `POST /admin/applications/{id}/delete/`: deletes the application and, with it,
/// every token, code and consent it holds.
async fn delete_application(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    staff.check_csrf(&Fields::parse(&body))?;
    let app = find_application(&state, &id).await?;
    if !state.store.delete_application(&app.client_id).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = staff.user.id, client_id = %app.client_id, "admin: application deleted");
    let detail = format!("admin pages: deleted with its tokens: {:?}", app.settings.name);
    staff.record(&state, AuditKind::ApplicationDeleted, address, Some(&app.client_id), detail).await;
    Ok(redirect(StatusCode::SEE_OTHER, &with_query(paths::ADMIN_APPLICATIONS, &[("done", "deleted")]), None))
}

// --- Tokens ---

#[derive(Serialize)]
struct TokenRow {
    id: i64,
    username: Option<String>,
    user_url: Option<String>,
    application_name: String,
    client_id: String,
    application_url: String,
    scope: String,
    created_at: String,
    expires_at: String,
    status: &'static str,
    revocable: bool,
    has_grant: bool,
    revoke_action: String,
}

impl TokenRow {
    fn new(listing: &AccessTokenListing, now: i64) -> Self {
        let token = &listing.record;
        Self {
            id: token.id,
            username: token.username.clone(),
            user_url: token.user_id.map(|id| at(paths::ADMIN_USER, id)),
            application_name: listing.application_name.clone(),
            client_id: token.client_id.clone(),
            application_url: at(paths::ADMIN_APPLICATION, token.application_id),
            scope: token.scope.clone(),
            created_at: format_utc(token.created_at),
            expires_at: format_utc(token.expires_at),
            status: token.status(now).as_str(),
            revocable: token.revoked_at.is_none(),
            has_grant: token.refresh_family.is_some(),
            revoke_action: at(paths::ADMIN_TOKEN_REVOKE, token.id),
        }
    }
}

/// `GET /admin/tokens/?user=&app=&page=`: access tokens, newest first, of the user with
/// that exact username and of the application with that exact client id.
async fn tokens(State(state): State<AppState>, staff: Staff, uri: Uri) -> Result<Response, PageError> {
    let query = Fields::query(&uri);
    let (user, app, page) = (query.search("user")?, query.search("app")?, query.page()?);
    let filter = TokenFilter {
        username: (!user.is_empty()).then(|| user.to_owned()),
        client_id: (!app.is_empty()).then(|| app.to_owned()),
    };
    let Listing { items, total } = state.store.list_access_tokens(&filter, PER_PAGE, offset(page)).await?;
    let link = |n: i64| with_query(paths::ADMIN_TOKENS, &[("user", user), ("app", app), ("page", &n.to_string())]);
    let pager = Pager::new(page, total, link);
    let now = state.clock.now();
    let rows: Vec<TokenRow> = items.iter().map(|t| TokenRow::new(t, now)).collect();
    let page = render(
        &state,
        "admin/tokens.html",
        StatusCode::OK,
        context! {
            tokens => rows,
            user,
            app,
            page,
            pager,
            notice => query.notice(),
            ..staff.context("tokens")
        },
    )?;
    Ok(page.into_response())
}

/// `POST /admin/tokens/{id}/revoke/`: revokes the access token or, with `grant=1` (in
/// the query or the form), every token of the refresh grant it was issued with, so the
/// client cannot refresh its way back. Answers with the list it came from.
async fn revoke_token(
    State(state): State<AppState>,
    staff: Staff,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = Fields::parse(&body);
    staff.check_csrf(&form)?;
    let token = state.store.access_token_by_id(parse_id(&id)?).await?.ok_or(PageError::NotFound)?.record;
    let query = Fields::query(&uri);
    let whole_grant = form.get("grant").or_else(|| query.get("grant")) == Some("1");
    let now = state.clock.now();
    let done = if whole_grant {
        let Some(family) = &token.refresh_family else {
            return Err(PageError::BadRequest(
                "This token was not issued with a refresh token: there is no grant to revoke beyond it.".into(),
            ));
        };
        state.store.revoke_refresh_family(family, now).await?;
        "grant_revoked"
    } else {
        state.store.revoke_access_token(token.id, now).await?;
        "revoked"
    };
    tracing::info!(staff_id = staff.user.id, token_id = token.id, whole_grant, "admin: token revoked");
    let whose = token.username.as_deref().map_or_else(|| "the client's own".to_owned(), |u| format!("user {u}'s"));
    let detail = if whole_grant {
        format!("admin pages: access token {} ({whose}) and every token of its grant", token.id)
    } else {
        format!("admin pages: access token {} ({whose})", token.id)
    };
    staff.record(&state, AuditKind::AdminTokenRevoked, address, Some(&token.client_id), detail).await;
    let back = with_query(
        paths::ADMIN_TOKENS,
        &[("user", form.text("user")), ("app", form.text("app")), ("page", form.text("page")), ("done", done)],
    );
    Ok(redirect(StatusCode::SEE_OTHER, &back, None))
}

// --- Audit log ---

#[derive(Serialize)]
struct AuditRow {
    id: i64,
    occurred_at: String,
    kind: &'static str,
    user_id: Option<i64>,
    username: Option<String>,
    user_url: Option<String>,
    client_id: Option<String>,
    client_addr: Option<String>,
    detail: String,
}

impl From<AuditEvent> for AuditRow {
    fn from(AuditEvent { id, event, username }: AuditEvent) -> Self {
        Self {
            id,
            occurred_at: format_utc(event.occurred_at),
            kind: event.kind.as_str(),
            user_id: event.user_id,
            // A link only to a user who still exists.
            user_url: username.as_ref().and(event.user_id).map(|id| at(paths::ADMIN_USER, id)),
            username,
            client_id: event.client_id,
            client_addr: event.client_addr,
            detail: event.detail,
        }
    }
}

/// `GET /admin/audit/?kind=&user=&app=&before=`: security events, newest first, of one
/// kind, of the user with that exact username, of the application with that exact
/// client id. Pages go back in time by the last id shown (`before`), so events recorded
/// meanwhile never shift a page.
async fn audit(State(state): State<AppState>, staff: Staff, uri: Uri) -> Result<Response, PageError> {
    let query = Fields::query(&uri);
    let (kind, user, app) = (query.text("kind"), query.search("user")?, query.search("app")?);
    let bad = |what: &str| PageError::BadRequest(format!("The {what} in the address is not valid."));
    let parsed_kind = match kind {
        "" => None,
        name => Some(name.parse::<AuditKind>().map_err(|_| bad("event kind"))?),
    };
    let before = match query.text("before") {
        "" => None,
        text => Some(text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| bad("page"))?),
    };
    // A username that names nobody has no events.
    let user_id = match user {
        "" => None,
        name => Some(state.store.user_by_username(name).await?.map_or(0, |u| u.id)),
    };
    let filter =
        AuditFilter { kind: parsed_kind, user_id, client_id: (!app.is_empty()).then(|| app.to_owned()), before };
    // One more than shown, to know whether an older page exists.
    let mut events = state.store.list_audit_events(&filter, PER_PAGE + 1).await?;
    let older = (events.len() > usize::try_from(PER_PAGE).unwrap_or(usize::MAX)).then(|| {
        events.truncate(events.len() - 1);
        let last = events.last().map_or(0, |e| e.id).to_string();
        with_query(paths::ADMIN_AUDIT, &[("kind", kind), ("user", user), ("app", app), ("before", &last)])
    });
    let newest = before.map(|_| with_query(paths::ADMIN_AUDIT, &[("kind", kind), ("user", user), ("app", app)]));
    let rows: Vec<AuditRow> = events.into_iter().map(AuditRow::from).collect();
    let kinds: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
    let page = render(
        &state,
        "admin/audit.html",
        StatusCode::OK,
        context! { events => rows, kinds, kind, user, app, older, newest, ..staff.context("audit") },
    )?;
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_minutes() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        assert_eq!(format_utc(951_782_399), "2000-02-28 23:59");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_utc(1_800_000_000), "2027-01-15 08:00");
        assert_eq!(format_utc(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn pages_and_groups_are_validated() {
        let page = |q: &str| Fields::parse(q.as_bytes()).page().ok();
        assert_eq!(page(""), Some(1));
        assert_eq!(page("page="), Some(1));
        assert_eq!(page("page=3"), Some(3));
        for bad in ["page=0", "page=-1", "page=x", "page=1.5", "page=99999999999999999999", "page=1000001"] {
            assert_eq!(page(bad), None, "{bad}");
        }
        assert_eq!(parse_groups("b, a  a,,c\n").ok(), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(parse_groups("  ").ok(), Some(vec![]));
        assert!(parse_groups(&"g".repeat(151)).is_err());
    }

    #[test]
    fn pager_links() {
        let link = |n: i64| format!("/p?page={n}");
        let first = Pager::new(1, 120, link);
        assert_eq!((first.pages, first.previous, first.next.as_deref()), (3, None, Some("/p?page=2")));
        let last = Pager::new(3, 120, link);
        assert_eq!((last.previous.as_deref(), last.next), (Some("/p?page=2"), None));
        let beyond = Pager::new(9, 120, link);
        assert_eq!(beyond.previous.as_deref(), Some("/p?page=3"));
        assert_eq!(Pager::new(1, 0, link).pages, 1);
        assert_eq!(with_query("/a/", &[("q", "x y&z"), ("page", "")]), "/a/?q=x+y%26z");
    }
}
