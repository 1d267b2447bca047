//! `[server]`: how the server meets the network: TLS, limits on requests, proxies.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::http::edge::TrustedProxies;

/// `[server]`: how the server meets the network. Each key `k` is also read from
/// `PORTCULLIS_SERVER_K`. `trusted_proxies` counts for a provider mounted in a host
/// application too; the other keys are `portcullis serve`'s (and
/// [`crate::http::server::ServeOptions::from_settings`]'s).
///
/// ```
/// use portcullis::config::Config;
///
/// let dir = tempfile::tempdir()?;
/// let file = dir.path().join("portcullis.toml");
/// std::fs::write(&file, r#"
/// [server]
/// trusted_proxies = ["10.0.0.0/8", "::1"]
/// max_header_bytes = 8192
/// "#)?;
/// let server = Config::load(Some(&file), std::iter::empty())?.server;
/// assert!(server.trusted_proxies.contains("10.20.30.40".parse()?));
/// assert_eq!(server.max_header_bytes, 8192);
/// assert_eq!(server.header_read_timeout_seconds, 20, "the rest keep their defaults");
///
/// // From the environment: a list as words; an entry that is no address is an error.
/// let env = [("PORTCULLIS_SERVER_TRUSTED_PROXIES".to_owned(), "192.0.2.10 proxy.internal".to_owned())];
/// let error = Config::load(None, env).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.contains(r#""proxy.internal" is neither an IP address nor a network"#), "{error}");
///
/// // TLS takes a certificate and its key, never one alone.
/// let env = [("PORTCULLIS_SERVER_TLS_CERTIFICATE".to_owned(), "/etc/portcullis/cert.pem".to_owned())];
/// let error = Config::load(None, env).err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(error.starts_with("setting `server.tls_private_key`"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// A PEM file with the certificate chain to serve https with, the server's own
    /// certificate first; empty: plain http. Needs `tls_private_key` too. Read at
    /// start: restart the server to take up a renewed certificate.
    pub tls_certificate: String,
    /// A PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1); empty:
    /// plain http. Needs `tls_certificate` too.
    pub tls_private_key: String,
    /// The reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed,
    /// as addresses (`"10.0.0.7"`) or networks (`"10.0.0.0/8"`); empty: none, and the
    /// connection's peer is the client (see [`crate::http::edge::ClientAddr`]).
    pub trusted_proxies: TrustedProxies,
    /// The most bytes a request's line and headers may take; beyond it the answer is
    /// `431 Request Header Fields Too Large` and the connection is closed.
    pub max_header_bytes: u32,
    /// Seconds a connection may take to send a request's headers (and to finish the TLS
    /// handshake) before it is closed, so that clients trickling bytes (slowloris)
    /// cannot hold connections open. A kept-alive connection waiting for its next
    /// request is closed after this long too.
    pub header_read_timeout_seconds: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            tls_certificate: String::new(),
            tls_private_key: String::new(),
            trusted_proxies: TrustedProxies::default(),
            max_header_bytes: 16 * 1024,
            header_read_timeout_seconds: 20,
        }
    }
}

impl ServerSettings {
    /// The certificate and key files when TLS is on; an error when only one is given.
    pub(crate) fn tls_files(&self) -> Result<Option<(&Path, &Path)>, ConfigError> {
        match (self.tls_certificate.is_empty(), self.tls_private_key.is_empty()) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some((Path::new(&self.tls_certificate), Path::new(&self.tls_private_key)))),
            (missing_certificate, _) => Err(ConfigError::Invalid {
                key: if missing_certificate { "server.tls_certificate" } else { "server.tls_private_key" }.to_owned(),
                message: "TLS needs both a certificate and a private key (server.tls_certificate and \
                          server.tls_private_key)"
                    .to_owned(),
            }),
        }
    }
}
