//! Serving a router on a TCP listener, over plain HTTP/1.1 or TLS (rustls), with limits
//! on request headers, graceful shutdown and a bounded drain. One accept loop for both:
//! TLS is a step on each accepted connection, before HTTP.
//!
//! [`app::serve`](crate::app::serve) is [`serve_with`] with the default options; `portcullis
//! serve` builds its options from `[server]` with [`ServeOptions::from_settings`].

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

use crate::config::{ConfigError, ServerSettings};
use crate::edge::Connection;

/// How long connections may take to finish once shutdown starts.
pub const DRAIN: Duration = Duration::from_secs(30);

/// How [`serve_with`] serves.
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

/// Serves `router` on `listener` with `options` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish for at most [`DRAIN`], and returns.
///
/// Each request carries a [`Connection`] (and axum's `ConnectInfo<SocketAddr>`) in its
/// extensions. The server lives in the returned future, connections included: dropping
/// or aborting it (a host application, a test) closes them all.
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
