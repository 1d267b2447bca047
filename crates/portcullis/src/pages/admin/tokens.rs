//! `/admin/tokens/`: access tokens by user and application, and revoking one (or its
//! whole grant).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{format_utc, notice, offset, page_number, search, text, with_query, AdminBase, Pager, Staff, PER_PAGE};
use crate::http::edge::ClientAddr;
use crate::http::AppState;
use crate::pages::{parse_id, redirect, render, with_id, CsrfForm, Page, PageError, Query};
use crate::paths;
use crate::store::{AccessTokenListing, AuditKind, Listing, TokenFilter};

#[derive(Serialize)]
struct TokenRow {
    id: i64,
    username: Option<String>,
    user_url: Option<String>,
    application_name: String,
    client_id: String,
    application_url: String,
    scope: String,
    /// The resources it is bound to (RFC 8707); empty: any.
    audience: Vec<String>,
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
            user_url: token.user_id.map(|id| with_id(paths::ADMIN_USER, id)),
            application_name: listing.application_name.clone(),
            client_id: token.client_id.clone(),
            application_url: with_id(paths::ADMIN_APPLICATION, token.application_id),
            scope: token.scope.clone(),
            audience: crate::store::split_list(&token.audience),
            created_at: format_utc(token.created_at),
            expires_at: format_utc(token.expires_at),
            status: token.status(now).as_str(),
            revocable: token.revoked_at.is_none(),
            has_grant: token.refresh_family.is_some(),
            revoke_action: with_id(paths::ADMIN_TOKEN_REVOKE, token.id),
        }
    }
}

/// `admin/tokens.html`. The filters and the page number go back with each revoke
/// form, so the answer returns to the same list.
#[derive(Serialize)]
struct TokensPage<'a> {
    tokens: Vec<TokenRow>,
    user: &'a str,
    app: &'a str,
    page: i64,
    pager: Pager,
    notice: Option<&'static str>,
    #[serde(flatten)]
    admin: AdminBase<'a>,
}

impl Page for TokensPage<'_> {
    const TEMPLATE: &'static str = "admin/tokens.html";
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    /// An exact username.
    user: Option<String>,
    /// An exact client id.
    app: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

/// `GET /admin/tokens/?user=&app=&page=`: access tokens, newest first, of the user with
/// that exact username and of the application with that exact client id.
pub(super) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let (user, app) = (search(query.user.as_deref())?, search(query.app.as_deref())?);
    let page = page_number(query.page.as_deref())?;
    let filter = TokenFilter {
        username: (!user.is_empty()).then(|| user.to_owned()),
        client_id: (!app.is_empty()).then(|| app.to_owned()),
    };
    let Listing { items, total } = state.store.list_access_tokens(&filter, PER_PAGE, offset(page)).await?;
    let link = |n: i64| with_query(paths::ADMIN_TOKENS, &[("user", user), ("app", app), ("page", &n.to_string())]);
    let now = state.clock.now();
    let page = TokensPage {
        tokens: items.iter().map(|t| TokenRow::new(t, now)).collect(),
        user,
        app,
        page,
        pager: Pager::new(page, total, link),
        notice: notice(query.done.as_deref()),
        admin: staff.base("tokens"),
    };
    Ok(render(&state, &page)?.into_response())
}

/// The revoke form: which button (`grant`), and the list to go back to.
#[derive(Deserialize)]
pub(super) struct RevokeForm {
    grant: Option<String>,
    user: Option<String>,
    app: Option<String>,
    page: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct RevokeQuery {
    grant: Option<String>,
}

/// `POST /admin/tokens/{id}/revoke/`: revokes the access token or, with `grant=1` (in
/// the query or the form), every token of the refresh grant it was issued with, so the
/// client cannot refresh its way back. Answers with the list it came from.
pub(super) async fn revoke(
    State(state): State<AppState>,
    ClientAddr { ip: address, .. }: ClientAddr,
    Path(id): Path<String>,
    Query(query): Query<RevokeQuery>,
    CsrfForm(staff, form): CsrfForm<RevokeForm, Staff>,
) -> Result<Response, PageError> {
    let token = state.store.access_token_by_id(parse_id(&id)?).await?.ok_or(PageError::NotFound)?.record;
    let whole_grant = form.grant.as_deref().or(query.grant.as_deref()) == Some("1");
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
        &[
            ("user", text(form.user.as_deref())),
            ("app", text(form.app.as_deref())),
            ("page", text(form.page.as_deref())),
            ("done", done),
        ],
    );
    Ok(redirect(StatusCode::SEE_OTHER, &back, None))
}
