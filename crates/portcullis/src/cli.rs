//! The `portcullis` command. Every command takes `--database-url` and `--config`, before
//! or after the subcommand. Errors end the process with one line on stderr and a
//! non-zero exit code; every write is a single statement or transaction, so a failed
//! command leaves nothing half-written.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::accounts::{self, AccountError, NewAccount};
use crate::audit::Audit;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::crypto::{random_alphanumeric, Secret};
use crate::http::server::{self, ServeOptions};
use crate::http::{standalone_router, AppState};
use crate::oidc::keys::KeyRing;
use crate::proto::{ClientType, GrantType};
use crate::registration;
use crate::store::{self, Application, AuditKind, NewAuditEvent, Store};

#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about = "An OAuth 2.0 and OpenID Connect authorization server")]
pub(crate) struct Cli {
    /// The database: sqlite://FILE (created if missing) or postgres://...
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://portcullis.db", global = true)]
    database_url: String,
    /// The settings file (default: portcullis.toml in the working directory, if present).
    #[arg(long, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database if needed, then serve HTTP (or https, given a certificate).
    Serve(ServeArgs),
    /// Bring the database schema up to date.
    Migrate,
    /// Create an administrator.
    Createsuperuser(UserArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage client applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Delete expired and revoked tokens and expired authorization codes.
    Cleartokens,
    /// The OpenID Connect signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "PORTCULLIS_BIND", default_value = "127.0.0.1:8000")]
    bind: String,
    /// Serve https with this PEM certificate chain (instead of the setting
    /// server.tls_certificate).
    #[arg(long, value_name = "PEM_FILE")]
    tls_certificate: Option<PathBuf>,
    /// The certificate's PEM private key (instead of the setting server.tls_private_key).
    #[arg(long, value_name = "PEM_FILE")]
    tls_private_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the signing keys, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a new active key for every algorithm; the old ones are retired, and stay
    /// published until the tokens they signed have expired.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an ordinary user.
    Create(UserArgs),
}

#[derive(Debug, Args)]
struct UserArgs {
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: String,
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "no_input")]
    password_stdin: bool,
    /// Never prompt: take the password from the environment.
    #[arg(long)]
    no_input: bool,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Register a client application; prints its client id and, once, its secret.
    Create(AppCreate),
    /// Change a registered application: each setting given replaces that setting, the
    /// others stay as they are.
    Update(AppUpdate),
    /// List applications.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an application and every token issued to it.
    Delete { client_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClientTypeArg {
    Confidential,
    Public,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Algorithm {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl Algorithm {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

#[derive(Debug, Args)]
struct AppCreate {
    #[arg(long)]
    name: String,
    #[arg(long, value_enum)]
    client_type: ClientTypeArg,
    /// One of authorization-code, implicit, password, client-credentials, device-code,
    /// openid-hybrid; repeat for several.
    #[arg(long = "grant-type", required = true, value_parser = parse_grant_type)]
    grant_types: Vec<GrantType>,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Where OpenID Connect logout may send the browser afterwards; repeat for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// A web origin (https://app.example) whose pages may call the token, revocation
    /// and UserInfo endpoints in this application's name (CORS); repeat for several.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Limit the scopes the application may get (default: every configured scope).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Do not ask users for consent.
    #[arg(long)]
    skip_authorization: bool,
    /// Signing algorithm for ID tokens, and for access tokens in the jwt format.
    #[arg(long, value_enum, default_value = "RS256")]
    algorithm: Algorithm,
    /// opaque (default): random access tokens; jwt: signed JWT access tokens (RFC 9068)
    /// that APIs can check offline.
    #[arg(long, default_value = "opaque")]
    access_token_format: String,
    /// The user who owns the application.
    #[arg(long)]
    owner: Option<String>,
    /// A resource (RFC 8707 resource URI, such as https://api.example/orders) this
    /// application is the resource server for: with introspection_policy = "audience",
    /// it may introspect the tokens issued for it. Repeat for several.
    #[arg(long = "resource-server-uri", value_name = "URI")]
    resource_server_uris: Vec<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).args(["resource_server_uris", "no_resource_server_uris"])))]
struct AppUpdate {
    /// The application's client id.
    client_id: String,
    /// The resources it is the resource server for, replacing those it had (see `app
    /// create`). Repeat for several.
    #[arg(long = "resource-server-uri", value_name = "URI")]
    resource_server_uris: Vec<String>,
    /// Make it the resource server of no resource.
    #[arg(long, conflicts_with = "resource_server_uris")]
    no_resource_server_uris: bool,
    #[arg(long)]
    json: bool,
}

fn parse_grant_type(value: &str) -> Result<GrantType, String> {
    value.parse()
}

/// Where `user create --no-input` and `createsuperuser --no-input` take the password.
const USER_PASSWORD_VAR: &str = "PORTCULLIS_USER_PASSWORD";
const SUPERUSER_PASSWORD_VAR: &str = "PORTCULLIS_SUPERUSER_PASSWORD";

/// Runs the command line; returns the process exit code.
pub async fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // A database URL in the message (ours, or quoted by a driver) keeps its
            // user and host but never its password.
            eprintln!("error: {}", store::redact_urls_in(&one_line(&error)));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The variables the command line reads itself, beside the settings: every `env = ...`
/// of its options, from clap's own description of them, and the password variables.
fn own_env_vars() -> Vec<String> {
    fn collect(command: &clap::Command, names: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|name| name.to_str()) {
                names.push(name.to_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, names);
        }
    }
    let mut names = vec![USER_PASSWORD_VAR.to_owned(), SUPERUSER_PASSWORD_VAR.to_owned()];
    collect(&Cli::command(), &mut names);
    names
}

/// Warns about each `PORTCULLIS_*` variable that nothing reads: a typo in
/// `portcullis.toml` stops the command, and one in the environment should not pass
/// unnoticed. Only names are shown, never values (which may be secrets).
fn warn_about_unknown_env_vars() {
    let own = own_env_vars();
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let names: Vec<String> = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok()).collect();
    for unknown in config::unknown_env_vars(names.iter().map(String::as_str), &own) {
        let guess = unknown.suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
        tracing::warn!("environment variable {} is not a setting and is ignored{guess}", unknown.name);
    }
}

/// The error and its causes on one line, without repeating a cause the message
/// already contains.
fn one_line(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text.replace('\n', " ")
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config_path = config::resolve_path(cli.config.as_deref());
    let config = Config::load(config_path.as_deref(), std::env::vars())?;
    warn_about_unknown_env_vars();
    if let Command::Serve(args) = &cli.command {
        return serve(&cli.database_url, config, args).await;
    }
    let store = open(&cli.database_url, &config).await?;
    let now = SystemClock.now();
    match cli.command {
        Command::Serve(_) => Ok(()),
        Command::Migrate => {
            println!("database is up to date");
            Ok(())
        }
        Command::Createsuperuser(args) => create_user(&store, args, true, now).await,
        Command::User(UserCommand::Create(args)) => create_user(&store, args, false, now).await,
        Command::App(AppCommand::Create(args)) => create_app(&store, &config, args, now).await,
        Command::App(AppCommand::Update(args)) => update_app(&store, &config, args, now).await,
        Command::App(AppCommand::List { json }) => list_apps(store.as_ref(), json).await,
        Command::App(AppCommand::Delete { client_id }) => {
            let app = store.application_by_client_id(&client_id).await?;
            if store.delete_application(&client_id).await? {
                let name = app.map(|a| a.settings.name).unwrap_or_default();
                let event = NewAuditEvent::new(AuditKind::ApplicationDeleted, now).client(&client_id);
                record(&store, event.detail(format!("command line: deleted with its tokens: {name:?}"))).await;
                println!("deleted application {client_id} and its tokens");
                Ok(())
            } else {
                bail!("no application has client id {client_id:?}")
            }
        }
        Command::Keys(command) => keys(store, &config, command, now).await,
        Command::Cleartokens => {
            let cleared = store.clear_tokens(now).await?;
            println!(
                "deleted {} access tokens, {} refresh tokens, {} authorization codes, {} device codes",
                cleared.access_tokens, cleared.refresh_tokens, cleared.codes, cleared.device_grants
            );
            Ok(())
        }
    }
}

/// Connects, as durable as the settings ask, and migrates: every command works on a
/// fresh database.
async fn open(url: &str, config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::connect_with_options(url, &config.storage.connect_options()).await?;
    store.migrate().await?;
    Ok(store)
}

async fn serve(database_url: &str, mut config: Config, args: &ServeArgs) -> anyhow::Result<()> {
    // The flags win over the settings; the pair is checked, and the files read, before
    // anything else happens, so that a bad certificate fails at once.
    if let Some(path) = &args.tls_certificate {
        config.server.tls_certificate = path.display().to_string();
    }
    if let Some(path) = &args.tls_private_key {
        config.server.tls_private_key = path.display().to_string();
    }
    let options = ServeOptions::from_settings(&config.server)?;
    let scheme = if options.tls.is_some() { "https" } else { "http" };
    let store = open(database_url, &config).await?;
    let openid = config.oidc.enabled;
    let state = AppState::new(store.clone(), config, Arc::new(SystemClock))?;
    if openid {
        // The first start makes the signing keys; later ones check that they open.
        state.keys.ensure(SystemClock.now()).await.context("the OpenID Connect signing keys")?;
    }
    let bind = &args.bind;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener.local_addr()?;
    tracing::info!("listening on {scheme}://{address}");
    server::serve_with(listener, standalone_router(state), server::shutdown_signal(), options).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

fn read_password(args: &UserArgs, env_var: &str) -> anyhow::Result<String> {
    if args.no_input {
        return std::env::var(env_var).with_context(|| format!("--no-input needs the password in {env_var}"));
    }
    if args.password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

/// Records an event of the command line, which has no user or address: the audit log
/// shows who ran it only as "command line".
async fn record(store: &Arc<dyn Store>, event: NewAuditEvent) {
    Audit::new(store.clone()).record(event).await;
}

async fn create_user(store: &Arc<dyn Store>, args: UserArgs, superuser: bool, now: i64) -> anyhow::Result<()> {
    accounts::validate_username(&args.username)?;
    accounts::validate_email(&args.email)?;
    // Checked before asking for the password, so nobody types one for nothing.
    if store.user_by_username(&args.username).await?.is_some() {
        return Err(AccountError::Taken(args.username).into());
    }
    let env_var = if superuser { SUPERUSER_PASSWORD_VAR } else { USER_PASSWORD_VAR };
    let password = read_password(&args, env_var)?;
    let account = NewAccount {
        username: args.username,
        email: args.email,
        password,
        is_staff: superuser,
        is_superuser: superuser,
    };
    let user = accounts::create(store.as_ref(), account, now).await?;
    let kind = if superuser { "superuser" } else { "user" };
    let detail = format!("command line: user {} ({}), {kind}", user.id, user.username);
    record(store, NewAuditEvent::new(AuditKind::UserCreated, now).detail(detail)).await;
    println!("created {kind} {} (id {})", user.username, user.id);
    Ok(())
}

async fn create_app(store: &Arc<dyn Store>, config: &Config, args: AppCreate, now: i64) -> anyhow::Result<()> {
    let draft = registration::Draft {
        name: args.name.clone(),
        client_type: Some(match args.client_type {
            ClientTypeArg::Confidential => ClientType::Confidential,
            ClientTypeArg::Public => ClientType::Public,
        }),
        grant_types: args.grant_types.clone(),
        redirect_uris: args.redirect_uris.clone(),
        post_logout_redirect_uris: args.post_logout_redirect_uris.clone(),
        allowed_origins: args.allowed_origins.clone(),
        scopes: args.scopes.clone(),
        skip_authorization: args.skip_authorization,
        algorithm: args.algorithm.as_str().to_owned(),
        access_token_format: args.access_token_format.clone(),
        resource_server_uris: args.resource_server_uris.clone(),
    };
    // The command line is staff's: whoever runs it holds the database.
    let fields = registration::validate(&draft, &config.oauth2, registration::Registrant::Staff)
        .map_err(|problems| anyhow::anyhow!(registration::one_line(&problems)))?;
    let owner_id = match &args.owner {
        Some(username) => {
            Some(store.user_by_username(username).await?.with_context(|| format!("no user is named {username:?}"))?.id)
        }
        None => None,
    };
    let secret = (fields.client_type == ClientType::Confidential).then(Secret::generate);
    let hash = secret.as_ref().map(Secret::hash);
    let app = store.create_application(&random_alphanumeric(32), hash.as_ref(), owner_id, &fields, now).await?;
    let owner = args.owner.as_deref().map(|o| format!(", owned by {o}")).unwrap_or_default();
    let detail = format!("command line: {:?}, {}{owner}", app.settings.name, app.settings.client_type.as_str());
    let event = NewAuditEvent::new(AuditKind::ApplicationCreated, now).client(&app.client_id);
    record(store, event.detail(detail)).await;
    let secret = secret.as_ref().map(Secret::expose);
    if args.json {
        let mut value = app_json(&app);
        value["client_secret"] = json!(secret);
        println!("{value}");
    } else {
        println!("created application {:?}", app.settings.name);
        println!("client_id: {}", app.client_id);
        match secret {
            Some(secret) => {
                println!("client_secret: {secret}");
                eprintln!("The secret is shown only now; Portcullis keeps only its hash.");
            }
            None => println!("client_secret: (none: public client)"),
        }
    }
    Ok(())
}

async fn update_app(store: &Arc<dyn Store>, config: &Config, args: AppUpdate, now: i64) -> anyhow::Result<()> {
    let app = store
        .application_by_client_id(&args.client_id)
        .await?
        .with_context(|| format!("no application has client id {:?}", args.client_id))?;
    let mut draft = registration::Draft::of(&app.settings);
    draft.resource_server_uris = if args.no_resource_server_uris { Vec::new() } else { args.resource_server_uris };
    // The command line is staff's, as for `app create`.
    let fields = registration::validate(&draft, &config.oauth2, registration::Registrant::Staff)
        .map_err(|problems| anyhow::anyhow!(registration::one_line(&problems)))?;
    let updated = store
        .update_application(app.id, &fields, now)
        .await?
        .with_context(|| format!("no application has client id {:?}", args.client_id))?;
    let detail = format!("command line: changed {:?}: resource server URIs", updated.settings.name);
    record(store, NewAuditEvent::new(AuditKind::ApplicationChanged, now).client(&app.client_id).detail(detail)).await;
    if args.json {
        println!("{}", app_json(&updated));
    } else {
        let resources = &updated.settings.resource_server_uris;
        let resources = if resources.is_empty() { "none".to_owned() } else { resources.join(" ") };
        println!("changed application {:?}", updated.settings.name);
        println!("resource server for: {resources}");
    }
    Ok(())
}

fn app_json(app: &Application) -> serde_json::Value {
    json!({
        "client_id": app.client_id,
        "name": app.settings.name,
        "client_type": app.settings.client_type.as_str(),
        "grant_types": app.settings.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": app.settings.redirect_uris,
        "post_logout_redirect_uris": app.settings.post_logout_redirect_uris,
        "allowed_origins": app.settings.allowed_origins,
        "allowed_scopes": app.settings.allowed_scopes.as_ref().map(|s| s.iter().collect::<Vec<_>>()),
        "skip_authorization": app.settings.skip_authorization,
        "algorithm": app.settings.algorithm.as_str(),
        "access_token_format": app.settings.access_token_format.as_str(),
        "resource_server_uris": app.settings.resource_server_uris,
        "created_at": app.created_at,
    })
}

async fn keys(store: Arc<dyn Store>, config: &Config, command: KeysCommand, now: i64) -> anyhow::Result<()> {
    let lifetime = i64::from(config.oauth2.access_token_expire_seconds);
    let ring = KeyRing::new(store.clone(), config.key_encryption_key(), lifetime);
    match command {
        KeysCommand::Rotate => {
            let kids = ring.rotate(now).await?;
            // Key ids are thumbprints of the public keys, published in the JWKS.
            let detail = format!("command line: new signing keys {}", kids.join(", "));
            record(&store, NewAuditEvent::new(AuditKind::KeyRotated, now).detail(detail)).await;
            for kid in kids {
                println!("new signing key {kid}");
            }
            println!("old keys are retired and stay published for {lifetime} s");
        }
        KeysCommand::List { json } => {
            let keys = ring.list().await?;
            if json {
                println!("{}", serde_json::to_string(&keys)?);
            } else if keys.is_empty() {
                println!("no signing keys (the server makes them when it first starts)");
            }
            if !json {
                for key in keys {
                    let state = match key.retired_at {
                        None => "active".to_owned(),
                        Some(at) => format!("retired at {at}"),
                    };
                    let sealed = if key.encrypted { "encrypted" } else { "plain" };
                    println!("{}  {:<5}  {:<9}  created {}  {state}", key.kid, key.algorithm, sealed, key.created_at);
                }
            }
        }
    }
    Ok(())
}

async fn list_apps(store: &dyn Store, as_json: bool) -> anyhow::Result<()> {
    let apps = store.list_applications().await?;
    if as_json {
        println!("{}", serde_json::Value::Array(apps.iter().map(app_json).collect()));
        return Ok(());
    }
    if apps.is_empty() {
        println!("no applications");
    }
    for app in apps {
        let grants: Vec<_> = app.settings.grant_types.iter().map(|g| g.as_str()).collect();
        println!(
            "{}  {:<12}  {:<40}  {}",
            app.client_id,
            app.settings.client_type.as_str(),
            app.settings.name,
            grants.join(",")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_own_variables_are_known() {
        let own = own_env_vars();
        for name in ["PORTCULLIS_CONFIG", "PORTCULLIS_BIND", "DATABASE_URL", USER_PASSWORD_VAR, SUPERUSER_PASSWORD_VAR]
        {
            assert!(own.iter().any(|n| n == name), "{name} missing from {own:?}");
        }
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let names = ["PORTCULLIS_BIND", "PORTCULLIS_CONFIG", "PORTCULLIS_SUPERUSER_PASSWORD", "PORTCULLIS_BIN"];
        let unknown = config::unknown_env_vars(names, &own);
        assert_eq!(unknown.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["PORTCULLIS_BIN"]);
        assert_eq!(unknown[0].suggestion.as_deref(), Some("PORTCULLIS_BIND"));
    }
}
