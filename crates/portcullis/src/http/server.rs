//! Serving a router on a TCP listener, over plain HTTP/1.1 or TLS (rustls), with limits
//! on request headers, graceful shutdown and a bounded drain. One accept loop for both:
//! TLS is a step on each accepted connection, before HTTP.
//!
//! [`serve`] is [`serve_with`] with the default options; `portcullis serve` builds its
//! options from `[server]` with [`ServeOptions::from_settings`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::edge::Connection;
use crate::config::{ConfigError, ServerSettings};

/// How long connections may take to finish once shutdown starts.
pub const DRAIN: Duration = Duration::from_secs(30);

/// How [`serve_with`] serves.
///
/// ```
/// use std::time::Duration;
///
/// use portcullis::config::Config;
/// use portcullis::http::server::ServeOptions;
///
/// let defaults = ServeOptions::default();
/// assert!(defaults.tls.is_none(), "plain HTTP");
/// assert_eq!((defaults.max_header_bytes, defaults.header_read_timeout), (16 * 1024, Duration::from_secs(20)));
///
/// // What `portcullis serve` does with `[server]`.
/// let env = [("PORTCULLIS_SERVER_HEADER_READ_TIMEOUT_SECONDS".to_owned(), "5".to_owned())];
/// let options = ServeOptions::from_settings(&Config::load(None, env)?.server)?;
/// assert_eq!(options.header_read_timeout, Duration::from_secs(5));
///
/// // The certificate and key are read here: a missing file stops the server from
/// // starting, rather than failing each handshake.
/// let mut settings = Config::defaults().server;
/// settings.tls_certificate = "/nonexistent/cert.pem".into();
/// settings.tls_private_key = "/nonexistent/key.pem".into();
/// let error = ServeOptions::from_settings(&settings).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.starts_with("cannot read the TLS certificate /nonexistent/cert.pem"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ServeOptions {
    /// TLS settings (see [`load_tls`]); `None`: plain HTTP.
    pub tls: Option<Arc<ServerConfig>>,
    /// The most bytes a request's line and headers may take: beyond them the answer is
    /// `431 Request Header Fields Too Large` and the connection closes.
    pub max_header_bytes: usize,
    /// How long a connection may take to send a request's headers, or to finish the
    /// TLS handshake, before it is closed.
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    /// Plain HTTP with `[server]`'s default limits.
    fn default() -> Self {
        let defaults = ServerSettings::default();
        Self {
            tls: None,
            max_header_bytes: defaults.max_header_bytes as usize,
            header_read_timeout: Duration::from_secs(defaults.header_read_timeout_seconds.into()),
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("tls", &self.tls.is_some())
            .field("max_header_bytes", &self.max_header_bytes)
            .field("header_read_timeout", &self.header_read_timeout)
            .finish()
    }
}

impl ServeOptions {
    /// The options `[server]` describes, reading the certificate and key if it names
    /// them.
    pub fn from_settings(settings: &ServerSettings) -> Result<Self, ServeError> {
        let tls = match settings.tls_files()? {
            Some((certificate, key)) => Some(load_tls(certificate, key)?),
            None => None,
        };
        Ok(Self {
            tls,
            max_header_bytes: settings.max_header_bytes as usize,
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_seconds.into()),
        })
    }
}

/// Why the server could not start serving. The messages name files, never their
/// contents.
///
/// ```
/// use portcullis::http::server::{load_tls, ServeError};
///
/// let dir = tempfile::tempdir()?;
/// let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
/// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// // The two files swapped: the certificate's file holds the private key.
/// std::fs::write(&certificate, made.signing_key.serialize_pem())?;
/// std::fs::write(&key, made.cert.pem())?;
///
/// let error = load_tls(&certificate, &key).err();
/// assert!(matches!(&error, Some(ServeError::NoCertificate(file)) if *file == certificate.display().to_string()));
/// let message = error.map(|e| e.to_string()).unwrap_or_default();
/// assert_eq!(message, format!("the TLS certificate file {} holds no PEM certificate", certificate.display()));
/// // Nothing of the key that was in it.
/// assert!(!message.contains("PRIVATE KEY"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The settings are inconsistent (a certificate without its key).
    #[error(transparent)]
    Settings(#[from] ConfigError),
    /// A certificate or key file could not be read.
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("the TLS certificate file {0} holds no PEM certificate")]
    NoCertificate(String),
    /// The key file holds no PEM private key.
    #[error("the TLS private key file {0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    /// rustls refused the pair: a key that is not the certificate's, or of a kind it
    /// does not support.
    #[error("the TLS certificate {certificate} and private key {key} cannot be used together: {reason}")]
    Unusable {
        /// The certificate file.
        certificate: String,
        /// The key file.
        key: String,
        /// What rustls said (never key material).
        reason: String,
    },
}

/// Reads a PEM certificate chain (the server's certificate first) and its private key
/// into rustls settings for HTTP/1.1: TLS 1.2 and 1.3 with rustls's safe defaults, on
/// the `ring` provider.
///
/// ```
/// use axum::{routing::get, Router};
/// use portcullis::http::server::{load_tls, serve_with, ServeError, ServeOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
/// // A self-signed certificate for localhost, made here (rcgen); a real one comes from
/// // a certificate authority.
/// let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// std::fs::write(&certificate, made.cert.pem())?;
/// std::fs::write(&key, made.signing_key.serialize_pem())?;
///
/// let tls = load_tls(&certificate, &key)?;
/// assert_eq!(tls.alpn_protocols, [b"http/1.1".to_vec()]);
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let router = Router::new().route("/", get(|| async { "hello over TLS" }));
/// let options = ServeOptions { tls: Some(tls), ..ServeOptions::default() };
/// let server = tokio::spawn(serve_with(listener, router, std::future::pending(), options));
///
/// // A client that trusts this certificate, and only it.
/// let client = reqwest::Client::builder()
///     .tls_built_in_root_certs(false)
///     .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes())?)
///     .resolve("localhost", ([127, 0, 0, 1], port).into())
///     .build()?;
/// let answer = client.get(format!("https://localhost:{port}/")).send().await?;
/// assert_eq!(answer.text().await?, "hello over TLS");
/// server.abort(); // and its connections with it
///
/// // Another certificate's key does not go with this certificate.
/// let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// std::fs::write(&key, other.signing_key.serialize_pem())?;
/// let error = load_tls(&certificate, &key).err();
/// assert!(matches!(error, Some(ServeError::Unusable { reason, .. }) if reason == "the private key is not the certificate's"));
/// # Ok(())
/// # }
/// ```
pub fn load_tls(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, ServeError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| ServeError::Read { what, path: path.display().to_string(), source })
    };
    let certificate_pem = read("certificate", certificate)?;
    let key_pem = read("private key", key)?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&certificate_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(ServeError::NoCertificate(certificate.display().to_string()));
    }
    // The parser's error is not shown: it could quote the file.
    let private_key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| ServeError::NoKey(key.display().to_string()))?;
    let unusable = |error: rustls::Error| ServeError::Unusable {
        certificate: certificate.display().to_string(),
        key: key.display().to_string(),
        reason: match error {
            rustls::Error::InconsistentKeys(_) => "the private key is not the certificate's".to_owned(),
            other => other.to_string(),
        },
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(unusable)?;
    // Only HTTP/1.1 is served; a client that offers h2 as well gets HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` over plain HTTP until `shutdown` completes, then lets
/// requests in flight finish (for at most [`DRAIN`]). What `portcullis serve` does,
/// which also reads TLS and limits from `[server]` with [`serve_with`]:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use portcullis::clock::{Clock, SystemClock};
/// use portcullis::config::Config;
/// use portcullis::http::server::{serve, shutdown_signal};
/// use portcullis::http::{router, AppState};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::load(None, std::env::vars())?;
/// let store = portcullis::store::connect("sqlite://portcullis.db").await?;
/// store.migrate().await?;
/// let state = AppState::new(store.clone(), config, Arc::new(SystemClock))?;
/// // The first start makes the OpenID Connect signing keys.
/// state.keys.ensure(SystemClock.now()).await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// serve(listener, router(state), shutdown_signal()).await?;
/// store.close().await;
/// # Ok(())
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeOptions::default()).await
}

/// Completes on SIGINT or SIGTERM. A host may stop on something of its own as well:
///
/// ```
/// use std::sync::Arc;
///
/// use portcullis::clock::SystemClock;
/// use portcullis::config::Config;
/// use portcullis::http::server::{serve, shutdown_signal};
/// use portcullis::http::{router, AppState};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}", dir.path().join("auth.db").display());
/// let store = portcullis::store::connect(&url).await?;
/// store.migrate().await?;
/// let state = AppState::new(store, Config::defaults(), Arc::new(SystemClock))?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
///
/// // Stop on a signal, or when the host says so.
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let shutdown = async move {
///     tokio::select! {
///         () = shutdown_signal() => {}
///         _ = stopped => {}
///     }
/// };
/// let server = tokio::spawn(serve(listener, router(state), shutdown));
/// let _ = stop.send(());
/// server.await??; // stopped cleanly
/// # Ok(())
/// # }
/// ```
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Serves `router` on `listener` with `options` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish for at most [`DRAIN`], and returns.
///
/// Each request carries a [`Connection`] (and axum's `ConnectInfo<SocketAddr>`) in its
/// extensions. The server lives in the returned future, connections included: dropping
/// or aborting it (a host application, a test) closes them all.
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Duration;
///
/// use axum::{routing::get, Extension, Router};
/// use portcullis::http::edge::Connection;
/// use portcullis::http::server::{serve_with, ServeOptions};
/// use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
/// use tokio::net::{TcpListener, TcpStream};
///
/// /// Sends `request` as it is and reads the answer until the server closes.
/// async fn exchange(address: SocketAddr, request: &str) -> std::io::Result<String> {
///     let mut stream = TcpStream::connect(address).await?;
///     stream.write_all(request.as_bytes()).await?;
///     let mut answer = Vec::new();
///     // A reset after the answer (the server closing with bytes unread) ends it too.
///     let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
///     Ok(String::from_utf8_lossy(&answer).into_owned())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let router = Router::new().route(
///     "/",
///     get(|Extension(connection): Extension<Connection>| async move { format!("tls: {}", connection.tls) }),
/// );
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let address = listener.local_addr()?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let options = ServeOptions { max_header_bytes: 4096, ..ServeOptions::default() };
/// let server = tokio::spawn(serve_with(listener, router, async { stopped.await.unwrap_or(()) }, options));
///
/// let answer = exchange(address, "GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await?;
/// assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("tls: false"), "{answer}");
/// // Headers beyond the limit: RFC 6585 §5's 431, and the connection closes.
/// let padding = "a".repeat(8192);
/// let answer = exchange(address, &format!("GET / HTTP/1.1\r\nhost: localhost\r\nx-padding: {padding}\r\n\r\n")).await?;
/// assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
///
/// // Shutdown: nothing is in flight, so it returns at once, well within DRAIN,
/// // and the port is closed.
/// let _ = stop.send(());
/// server.await??;
/// assert!(TcpStream::connect(address).await.is_err());
/// # Ok(())
/// # }
/// ```
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_header_size(options.max_header_bytes);
    let acceptor = options.tls.map(TlsAcceptor::from);
    // Connections watch this to start their graceful shutdown.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (http, router, acceptor, stop) = (http.clone(), router.clone(), acceptor.clone(), stop_rx.clone());
                    let timeout = options.header_read_timeout;
                    connections.spawn(async move {
                        match acceptor {
                            None => serve_connection(stream, peer, false, router, &http, stop).await,
                            // The handshake has the same deadline as a request's headers.
                            Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(stream, peer, true, router, &http, stop).await,
                                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            },
                        }
                    });
                }
                Err(error) => accept_failed(error).await,
            },
            // Reap finished connections, so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Stop accepting: the port closes now, not after the drain.
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("requests still in flight after {} s; stopping anyway", DRAIN.as_secs());
    }
    Ok(())
}

/// Serves HTTP/1.1 on one connection, plain or already through TLS, until the client
/// closes it, a limit closes it, or shutdown ends it after its request in flight.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    tls: bool,
    router: Router,
    http: &hyper::server::conn::http1::Builder,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = Connection { peer, tls };
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(connection);
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let conn = http.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    // Timeouts, oversized headers and clients going away end up here:
                    // the client's doing, not the server's failure.
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            changed = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    // Finish the request in flight, if any, then close.
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// After a failed `accept`: errors about one connection (it went away before it was
/// accepted) are the client's; others (out of file descriptors) would fail again at
/// once, so wait a little before trying again.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
