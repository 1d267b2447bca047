//! `/admin/users/`: the list, a new user, and a user's page with its three forms
//! (active or not, a new password, groups).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{format_utc, notice, offset, page_number, search, text, with_query, AdminBase, Pager, Staff, PER_PAGE};
use crate::accounts::{self, AccountError, NewAccount};
use crate::http::edge::ClientAddr;
use crate::http::AppState;
use crate::pages::{parse_id, redirect, render, with_id, CsrfForm, Done, Page, PageError, Query};
use crate::paths;
use crate::store::{AuditKind, Listing, User};

/// Django's limit on group names.
const MAX_GROUP_NAME: usize = 150;

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
            url: with_id(paths::ADMIN_USER, user.id),
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

/// `admin/users.html`.
#[derive(Serialize)]
struct UsersPage<'a> {
    users: Vec<UserRow>,
    q: &'a str,
    pager: Pager,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for UsersPage<'_> {
    const TEMPLATE: &'static str = "admin/users.html";
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
    page: Option<String>,
}

/// `GET /admin/users/?q=&page=`: users whose username or email contains `q`.
pub(super) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let (q, page) = (search(query.q.as_deref())?, page_number(query.page.as_deref())?);
    let Listing { items, total } = state.store.list_users(q, PER_PAGE, offset(page)).await?;
    let pager = Pager::new(page, total, |n| with_query(paths::ADMIN_USERS, &[("q", q), ("page", &n.to_string())]));
    let page = UsersPage { users: items.iter().map(UserRow::from).collect(), q, pager, admin: staff.base("users") };
    Ok(render(&state, &page)?.into_response())
}

/// `admin/user_new.html`: the form, empty or as sent with an error.
#[derive(Serialize)]
struct NewUserPage<'a> {
    username: &'a str,
    email: &'a str,
    is_staff: bool,
    error: Option<String>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for NewUserPage<'_> {
    const TEMPLATE: &'static str = "admin/user_new.html";
}

#[derive(Deserialize)]
pub(super) struct NewUserForm {
    username: Option<String>,
    email: Option<String>,
    password1: Option<String>,
    password2: Option<String>,
    is_staff: Option<String>,
}

/// The new-user form, empty or as sent with an error.
fn new_user_page(
    state: &AppState,
    staff: &Staff,
    form: Option<&NewUserForm>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = NewUserPage {
        username: form.map(|f| text(f.username.as_deref())).unwrap_or_default(),
        email: form.map(|f| text(f.email.as_deref())).unwrap_or_default(),
        is_staff: form.is_some_and(|f| f.is_staff.is_some()),
        error,
        admin: staff.base("users"),
    };
    Ok(render(state, &page)?.status(status).into_response())
}

/// `GET /admin/users/new/`.
pub(super) async fn new(State(state): State<AppState>, staff: Staff) -> Result<Response, PageError> {
    new_user_page(&state, &staff, None, None)
}

/// `POST /admin/users/new/`: creates the user with the rules and hashing of
/// `portcullis user create`.
pub(super) async fn create(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    CsrfForm(staff, form): CsrfForm<NewUserForm, Staff>,
) -> Result<Response, PageError> {
    let password = form.password1.as_deref().unwrap_or_default();
    if password != form.password2.as_deref().unwrap_or_default() {
        return new_user_page(&state, &staff, Some(&form), Some("The two passwords differ.".into()));
    }
    let account = NewAccount {
        username: text(form.username.as_deref()).to_owned(),
        email: text(form.email.as_deref()).to_owned(),
        password: password.to_owned(),
        is_staff: form.is_staff.is_some(),
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
            let to = with_query(&with_id(paths::ADMIN_USER, user.id), &[("done", "created")]);
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

/// `admin/user.html`: the user, and the forms that change them.
#[derive(Serialize)]
struct UserPage<'a> {
    target: UserRow,
    groups: Vec<String>,
    /// The groups form's text: as typed when it failed, else the groups.
    groups_input: String,
    tokens_url: String,
    active_action: String,
    password_action: String,
    groups_action: String,
    is_self: bool,
    may_change: bool,
    notice: Option<&'static str>,
    /// Which form failed (`active`, `password` or `groups`), and why.
    error_form: Option<&'static str>,
    error: Option<String>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for UserPage<'_> {
    const TEMPLATE: &'static str = "admin/user.html";
}

/// What the user page shows beside its forms.
#[derive(Default)]
struct Shown<'a> {
    notice: Option<&'static str>,
    /// Which form failed (`active`, `password` or `groups`) and why.
    error: Option<(&'static str, String)>,
    /// The groups as typed, when that form failed.
    groups_input: Option<&'a str>,
}

async fn user_page(state: &AppState, staff: &Staff, target: &User, shown: Shown<'_>) -> Result<Response, PageError> {
    let groups = state.store.user_groups(target.id).await?;
    let status = if shown.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let (error_form, error) = shown.error.map_or((None, None), |(form, message)| (Some(form), Some(message)));
    let page = UserPage {
        target: UserRow::from(target),
        groups_input: shown.groups_input.map_or_else(|| groups.join(", "), str::to_owned),
        groups,
        tokens_url: with_query(paths::ADMIN_TOKENS, &[("user", &target.username)]),
        active_action: with_id(paths::ADMIN_USER_ACTIVE, target.id),
        password_action: with_id(paths::ADMIN_USER_PASSWORD, target.id),
        groups_action: with_id(paths::ADMIN_USER_GROUPS, target.id),
        is_self: target.id == staff.user.id,
        may_change: staff.may_change(target),
        notice: shown.notice,
        error_form,
        error,
        admin: staff.base("users"),
    };
    Ok(render(state, &page)?.status(status).into_response())
}

async fn find_user(state: &AppState, id: &str) -> Result<User, PageError> {
    state.store.user_by_id(parse_id(id)?).await?.ok_or(PageError::NotFound)
}

/// `GET /admin/users/{id}/`.
pub(super) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(query): Query<Done>,
) -> Result<Response, PageError> {
    let target = find_user(&state, &id).await?;
    let shown = Shown { notice: notice(query.done.as_deref()), ..Default::default() };
    user_page(&state, &staff, &target, shown).await
}

/// Loads the user a form is about, refusing staff who may not change them.
async fn user_for_change(state: &AppState, staff: &Staff, id: &str) -> Result<User, PageError> {
    let target = find_user(state, id).await?;
    if !staff.may_change(&target) {
        tracing::info!(staff_id = staff.user.id, user_id = target.id, "admin refused: superuser account");
        return Err(PageError::Forbidden);
    }
    Ok(target)
}

fn user_done(id: i64, done: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, &with_query(&with_id(paths::ADMIN_USER, id), &[("done", done)]), None)
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    /// `1` to activate, `0` to deactivate.
    active: Option<String>,
}

/// `POST /admin/users/{id}/active/` with `active` = `1` or `0`. Deactivating ends the
/// user's sessions; their tokens are refused while they stay inactive.
pub(super) async fn set_active(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(staff, form): CsrfForm<ActiveForm, Staff>,
) -> Result<Response, PageError> {
    let target = user_for_change(&state, &staff, &id).await?;
    let active = match form.active.as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => return Err(PageError::BadRequest("Say whether to activate (1) or deactivate (0) the user.".into())),
    };
    if !active && target.id == staff.user.id {
        let error = Some(("active", "You cannot deactivate your own account: ask another staff member.".to_owned()));
        return user_page(&state, &staff, &target, Shown { error, ..Default::default() }).await;
    }
    if !state.store.set_user_active(target.id, active).await? {
        return Err(PageError::NotFound);
    }
    tracing::info!(staff_id = staff.user.id, user_id = target.id, active, "admin: user activity changed");
    let change = if active { "reactivated" } else { "deactivated" };
    let detail = format!("admin pages: user {} ({}) {change}", target.id, target.username);
    staff.record(&state, AuditKind::UserChanged, address, None, detail).await;
    Ok(user_done(target.id, change))
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    password1: Option<String>,
    password2: Option<String>,
    /// Ticked: revoke every token issued to the user too.
    revoke_tokens: Option<String>,
}

/// `POST /admin/users/{id}/password/` with the new password twice, and `revoke_tokens`
/// when the box is ticked. Ends the user's other sessions; the staff member's own
/// session survives a change of their own. Tokens already issued stay valid unless the
/// box asks to revoke them (with what would buy new ones: unused codes, approved device
/// grants): a reset may be routine (a forgotten password), when cutting off every
/// application the user signed in to would only hurt, or the answer to a stolen one.
pub(super) async fn reset_password(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(staff, form): CsrfForm<PasswordForm, Staff>,
) -> Result<Response, PageError> {
    let target = user_for_change(&state, &staff, &id).await?;
    let password = form.password1.as_deref().unwrap_or_default();
    let refuse = |message: String| Shown { error: Some(("password", message)), ..Default::default() };
    if password != form.password2.as_deref().unwrap_or_default() {
        return user_page(&state, &staff, &target, refuse("The two passwords differ.".into())).await;
    }
    let hash = match accounts::hash_password(password.to_owned()).await {
        Ok(hash) => hash,
        Err(error) => return user_page(&state, &staff, &target, refuse(account_error(error)?)).await,
    };
    let keep =
        if target.id == staff.user.id { staff.visitor.session.as_ref().map(|(session, _)| session) } else { None };
    let revoke_tokens = form.revoke_tokens.is_some();
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

#[derive(Deserialize)]
pub(super) struct GroupsForm {
    groups: Option<String>,
}

/// `POST /admin/users/{id}/groups/` with `groups`: replaces the user's groups.
pub(super) async fn set_groups(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    CsrfForm(staff, form): CsrfForm<GroupsForm, Staff>,
) -> Result<Response, PageError> {
    let target = user_for_change(&state, &staff, &id).await?;
    let typed = form.groups.as_deref().unwrap_or_default();
    let groups = match parse_groups(typed) {
        Ok(groups) => groups,
        Err(message) => {
            let shown = Shown { error: Some(("groups", message)), groups_input: Some(typed), notice: None };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_validated() {
        assert_eq!(parse_groups("b, a  a,,c\n").ok(), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(parse_groups("  ").ok(), Some(vec![]));
        assert!(parse_groups(&"g".repeat(151)).is_err());
    }
}
