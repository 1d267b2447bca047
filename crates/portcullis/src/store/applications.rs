//! Client applications (RFC 6749 §2): one record, [`Application`], whose
//! [`ApplicationSettings`] are what a form or the command line chooses, and one insert
//! path, [`Applications::create_application`].

use async_trait::async_trait;
use portcullis_axum::ScopeSet;

use super::{split_list, Result, StoreError};
use crate::crypto::TokenHash;
use crate::proto::{AccessTokenFormat, ClientType, GrantType, SigningAlgorithm};

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The row's id.
    pub id: i64,
    /// RFC 6749 §2.2's client identifier, unique and public.
    pub client_id: String,
    /// SHA-256 of the secret (see `crypto`); `None` for public clients.
    pub client_secret_hash: Option<TokenHash>,
    /// What its registrant chose.
    pub settings: ApplicationSettings,
    /// The user who registered it on the application pages; `None` for one registered
    /// otherwise (with the command line, say).
    pub owner_id: Option<i64>,
    /// When it was registered, seconds since the Unix epoch.
    pub created_at: i64,
    /// When its settings last changed.
    pub updated_at: i64,
}

impl Application {
    /// Whether the application may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.settings.grant_types.contains(&grant)
    }
}

/// What whoever registers an application chooses, and may change later: the command
/// line, the application pages and the admin pages, each checking it first by the same
/// rules.
///
/// The default is a confidential client with no grants, no redirection URIs, every
/// configured scope, `RS256` and opaque access tokens: a base to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationSettings {
    /// What the consent page and the management pages call it.
    pub name: String,
    /// RFC 6749 §2.1: whether it can keep a secret.
    pub client_type: ClientType,
    /// The grants it may use; anything else is `unauthorized_client`.
    pub grant_types: Vec<GrantType>,
    /// RFC 6749 §3.1.2: where the authorization endpoint may send the browser back,
    /// compared exactly.
    pub redirect_uris: Vec<String>,
    /// OpenID Connect RP-Initiated Logout §3: where the browser may go after logging
    /// out, compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// The web origins (`https://app.example`) its pages call the token, revocation and
    /// UserInfo endpoints from: CORS lets them read this client's answers (besides the
    /// origins of `oauth2.allowed_origins`).
    pub allowed_origins: Vec<String>,
    /// The scopes this application may be granted; `None`: every configured scope.
    pub allowed_scopes: Option<ScopeSet>,
    /// Whether users are never asked to consent (for first-party applications).
    pub skip_authorization: bool,
    /// What its ID tokens and JWT access tokens are signed with.
    pub algorithm: SigningAlgorithm,
    /// What its access tokens look like on the wire.
    pub access_token_format: AccessTokenFormat,
    /// The resources (RFC 8707 resource URIs) it is the resource server for, compared
    /// exactly: under `[oauth2] introspection_policy = "audience"` it may introspect
    /// the tokens whose audience names one of them (RFC 7662 §4).
    pub resource_server_uris: Vec<String>,
}

impl Default for ApplicationSettings {
    fn default() -> Self {
        Self {
            name: String::new(),
            client_type: ClientType::Confidential,
            grant_types: Vec::new(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            allowed_origins: Vec::new(),
            allowed_scopes: None,
            skip_authorization: false,
            algorithm: SigningAlgorithm::Rs256,
            access_token_format: AccessTokenFormat::Opaque,
            resource_server_uris: Vec::new(),
        }
    }
}

/// Applications: registering them, finding them, changing and deleting them, by anyone
/// or by their owner only.
#[async_trait]
pub trait Applications: Send + Sync + 'static {
    /// Registers an application whose `settings` have been checked, with the hash of
    /// its secret (`None` for a public client) and the user who owns it, if any.
    /// [`StoreError::Conflict`] if the client id is taken.
    async fn create_application(
        &self,
        client_id: &str,
        client_secret_hash: Option<&TokenHash>,
        owner_id: Option<i64>,
        settings: &ApplicationSettings,
        now: i64,
    ) -> Result<Application>;
    /// The application with this client id.
    async fn application_by_client_id(&self, client_id: &str) -> Result<Option<Application>>;
    /// The application with this row id.
    async fn application_by_id(&self, id: i64) -> Result<Option<Application>>;
    /// The application with this row id, if `owner_id` owns it.
    async fn owned_application(&self, owner_id: i64, id: i64) -> Result<Option<Application>>;
    /// Every application, oldest first.
    async fn list_applications(&self) -> Result<Vec<Application>>;
    /// The user's own applications, oldest first.
    async fn applications_owned_by(&self, owner_id: i64) -> Result<Vec<Application>>;
    /// Replaces the settings of application `id`, whoever owns it, as staff do on the
    /// admin pages (`None` if there is no such application). Its client type, and so
    /// its secret, stay as they are: `settings.client_type` is not written.
    async fn update_application(
        &self,
        id: i64,
        settings: &ApplicationSettings,
        now: i64,
    ) -> Result<Option<Application>>;
    /// Replaces the settings of `owner_id`'s application `id` (`None` if there is no
    /// such application of theirs). A public client's secret hash is dropped; a
    /// confidential client's is replaced by `new_secret` when given, else kept.
    async fn update_owned_application(
        &self,
        owner_id: i64,
        id: i64,
        settings: &ApplicationSettings,
        new_secret: Option<&TokenHash>,
        now: i64,
    ) -> Result<Option<Application>>;
    /// Replaces the secret of `owner_id`'s confidential application `id`; `false` if
    /// there is no such application of theirs, or it is public.
    async fn replace_client_secret(&self, owner_id: i64, id: i64, hash: &TokenHash, now: i64) -> Result<bool>;
    /// Deletes the application and, with it, every token, code and consent it holds.
    async fn delete_application(&self, client_id: &str) -> Result<bool>;
    /// Deletes `owner_id`'s application `id` as [`Applications::delete_application`]
    /// does.
    async fn delete_owned_application(&self, owner_id: i64, id: i64) -> Result<bool>;
}

/// The columns of an [`ApplicationRow`], in its field order.
macro_rules! application_columns {
    () => {
        "id, client_id, client_secret_hash, name, client_type, grant_types, redirect_uris, \
         post_logout_redirect_uris, allowed_origins, allowed_scopes, skip_authorization, algorithm, \
         access_token_format, resource_server_uris, owner_id, created_at, updated_at"
    };
}

/// An `applications` row as stored, before its text columns are parsed.
#[derive(sqlx::FromRow)]
pub(super) struct ApplicationRow {
    id: i64,
    client_id: String,
    client_secret_hash: Option<Vec<u8>>,
    name: String,
    client_type: String,
    grant_types: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    allowed_origins: String,
    allowed_scopes: Option<String>,
    skip_authorization: bool,
    algorithm: String,
    access_token_format: String,
    resource_server_uris: String,
    owner_id: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;

    fn try_from(row: ApplicationRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("application {}: {what}", row.client_id));
        let client_secret_hash = match &row.client_secret_hash {
            Some(bytes) => Some(TokenHash::from_slice(bytes).ok_or_else(|| corrupt("secret hash length".into()))?),
            None => None,
        };
        let grant_types =
            split_list(&row.grant_types).iter().map(|g| g.parse()).collect::<Result<Vec<_>, _>>().map_err(corrupt)?;
        let allowed_scopes = match &row.allowed_scopes {
            Some(s) => Some(ScopeSet::parse(s).map_err(|e| corrupt(e.to_string()))?),
            None => None,
        };
        let algorithm =
            SigningAlgorithm::parse(&row.algorithm).ok_or_else(|| corrupt(format!("algorithm {:?}", row.algorithm)))?;
        let settings = ApplicationSettings {
            client_type: row.client_type.parse().map_err(corrupt)?,
            grant_types,
            redirect_uris: split_list(&row.redirect_uris),
            post_logout_redirect_uris: split_list(&row.post_logout_redirect_uris),
            allowed_origins: split_list(&row.allowed_origins),
            allowed_scopes,
            skip_authorization: row.skip_authorization,
            algorithm,
            access_token_format: row.access_token_format.parse().map_err(corrupt)?,
            resource_server_uris: split_list(&row.resource_server_uris),
            name: row.name,
        };
        Ok(Application {
            id: row.id,
            client_secret_hash,
            settings,
            owner_id: row.owner_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
            client_id: row.client_id,
        })
    }
}

/// The text columns `settings` is stored in: grant types, redirection URIs, origins,
/// logout URIs, scopes and resource URIs, as the space-separated lists the rows keep.
pub(super) struct SettingsText {
    pub grant_types: String,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub allowed_origins: String,
    pub allowed_scopes: Option<String>,
    pub resource_server_uris: String,
}

impl SettingsText {
    pub(super) fn of(settings: &ApplicationSettings) -> Self {
        let grant_types: Vec<&str> = settings.grant_types.iter().map(|g| g.as_str()).collect();
        Self {
            grant_types: super::join_list(&grant_types),
            redirect_uris: super::join_list(&settings.redirect_uris),
            post_logout_redirect_uris: super::join_list(&settings.post_logout_redirect_uris),
            allowed_origins: super::join_list(&settings.allowed_origins),
            allowed_scopes: settings.allowed_scopes.as_ref().map(ToString::to_string),
            resource_server_uris: super::join_list(&settings.resource_server_uris),
        }
    }
}

/// Implements [`Applications`] for a backend (see the module documentation of
/// `store`).
macro_rules! applications_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl Applications for $store {
            async fn create_application(
                &self,
                client_id: &str,
                client_secret_hash: Option<&TokenHash>,
                owner_id: Option<i64>,
                s: &ApplicationSettings,
                now: i64,
            ) -> Result<Application> {
                let text = $crate::store::applications::SettingsText::of(s);
                let row: $crate::store::applications::ApplicationRow = sqlx::query_as(concat!(
                    "INSERT INTO applications (client_id, client_secret_hash, name, client_type, grant_types, \
                       redirect_uris, allowed_origins, allowed_scopes, skip_authorization, algorithm, owner_id, \
                       created_at, updated_at, post_logout_redirect_uris, access_token_format, resource_server_uris) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15) RETURNING ",
                    $crate::store::applications::application_columns!()
                ))
                .bind(client_id)
                .bind(client_secret_hash.map(|h| h.as_bytes().to_vec()))
                .bind(&s.name)
                .bind(s.client_type.as_str())
                .bind(text.grant_types)
                .bind(text.redirect_uris)
                .bind(text.allowed_origins)
                .bind(text.allowed_scopes)
                .bind(s.skip_authorization)
                .bind(s.algorithm.as_str())
                .bind(owner_id)
                .bind(now)
                .bind(text.post_logout_redirect_uris)
                .bind(s.access_token_format.as_str())
                .bind(text.resource_server_uris)
                .fetch_one(self.writer())
                .await
                .map_err(|e| StoreError::from_sqlx(e, "an application with that client id"))?;
                row.try_into()
            }

            async fn application_by_client_id(&self, client_id: &str) -> Result<Option<Application>> {
                let row: Option<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    " FROM applications WHERE client_id = $1"
                ))
                .bind(client_id)
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn application_by_id(&self, id: i64) -> Result<Option<Application>> {
                let row: Option<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    " FROM applications WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn owned_application(&self, owner_id: i64, id: i64) -> Result<Option<Application>> {
                let row: Option<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    " FROM applications WHERE id = $1 AND owner_id = $2"
                ))
                .bind(id)
                .bind(owner_id)
                .fetch_optional(self.reader())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_applications(&self) -> Result<Vec<Application>> {
                let rows: Vec<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    " FROM applications ORDER BY id"
                ))
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn applications_owned_by(&self, owner_id: i64) -> Result<Vec<Application>> {
                let rows: Vec<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    $crate::store::applications::application_columns!(),
                    " FROM applications WHERE owner_id = $1 ORDER BY id"
                ))
                .bind(owner_id)
                .fetch_all(self.reader())
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn update_application(
                &self,
                id: i64,
                s: &ApplicationSettings,
                now: i64,
            ) -> Result<Option<Application>> {
                let text = $crate::store::applications::SettingsText::of(s);
                let row: Option<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "UPDATE applications SET name = $2, grant_types = $3, redirect_uris = $4, allowed_origins = $5, \
                       allowed_scopes = $6, skip_authorization = $7, algorithm = $8, updated_at = $9, \
                       post_logout_redirect_uris = $10, access_token_format = $11, resource_server_uris = $12 \
                     WHERE id = $1 RETURNING ",
                    $crate::store::applications::application_columns!()
                ))
                .bind(id)
                .bind(&s.name)
                .bind(text.grant_types)
                .bind(text.redirect_uris)
                .bind(text.allowed_origins)
                .bind(text.allowed_scopes)
                .bind(s.skip_authorization)
                .bind(s.algorithm.as_str())
                .bind(now)
                .bind(text.post_logout_redirect_uris)
                .bind(s.access_token_format.as_str())
                .bind(text.resource_server_uris)
                .fetch_optional(self.writer())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn update_owned_application(
                &self,
                owner_id: i64,
                id: i64,
                s: &ApplicationSettings,
                new_secret: Option<&TokenHash>,
                now: i64,
            ) -> Result<Option<Application>> {
                let text = $crate::store::applications::SettingsText::of(s);
                let row: Option<$crate::store::applications::ApplicationRow> = sqlx::query_as(concat!(
                    "UPDATE applications SET name = $3, client_type = $4, grant_types = $5, redirect_uris = $6, \
                       allowed_origins = $7, allowed_scopes = $8, skip_authorization = $9, algorithm = $10, \
                       client_secret_hash = CASE WHEN $4 = 'public' THEN NULL \
                                                 WHEN $11 IS NOT NULL THEN $11 \
                                                 ELSE client_secret_hash END, \
                       updated_at = $12, post_logout_redirect_uris = $13, access_token_format = $14, \
                       resource_server_uris = $15 \
                     WHERE id = $1 AND owner_id = $2 RETURNING ",
                    $crate::store::applications::application_columns!()
                ))
                .bind(id)
                .bind(owner_id)
                .bind(&s.name)
                .bind(s.client_type.as_str())
                .bind(text.grant_types)
                .bind(text.redirect_uris)
                .bind(text.allowed_origins)
                .bind(text.allowed_scopes)
                .bind(s.skip_authorization)
                .bind(s.algorithm.as_str())
                .bind(new_secret.map(|h| h.as_bytes().to_vec()))
                .bind(now)
                .bind(text.post_logout_redirect_uris)
                .bind(s.access_token_format.as_str())
                .bind(text.resource_server_uris)
                .fetch_optional(self.writer())
                .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn replace_client_secret(&self, owner_id: i64, id: i64, hash: &TokenHash, now: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE applications SET client_secret_hash = $3, updated_at = $4 \
                     WHERE id = $1 AND owner_id = $2 AND client_type = 'confidential'",
                )
                .bind(id)
                .bind(owner_id)
                .bind(hash.as_bytes())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_application(&self, client_id: &str) -> Result<bool> {
                // Tokens, codes and consents go with it through ON DELETE CASCADE.
                let done = sqlx::query("DELETE FROM applications WHERE client_id = $1")
                    .bind(client_id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_owned_application(&self, owner_id: i64, id: i64) -> Result<bool> {
                // Tokens, codes and consents go with it through ON DELETE CASCADE.
                let done = sqlx::query("DELETE FROM applications WHERE id = $1 AND owner_id = $2")
                    .bind(id)
                    .bind(owner_id)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(super) use {application_columns, applications_sql};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_type_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert!("authorization_code".parse::<GrantType>().is_err());
    }
}
