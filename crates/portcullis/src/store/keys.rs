//! OpenID Connect signing keys as stored: sealed private keys and their public JWKs.

use std::fmt;

use async_trait::async_trait;

use super::Result;

/// An OpenID Connect signing key as stored. `private_key` is the key's DER (PKCS#1 for
/// RSA, PKCS#8 for the others), sealed with AES-256-GCM when `encrypted`; `public_jwk`
/// is its public half as a JWK, published until the key has been retired for longer
/// than any token it signed can live.
///
/// The algorithm stays text: a key of an algorithm this build does not know (a newer
/// version's) is skipped by whoever reads the keys, not refused as a corrupt row.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigningKeyRecord {
    /// The row's id.
    pub id: i64,
    /// The key id (`kid`): its RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS `alg` it signs with.
    pub algorithm: String,
    /// The private key's DER, sealed when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// The public half, as a JWK in JSON.
    pub public_jwk: String,
    /// When it was made, seconds since the Unix epoch.
    pub created_at: i64,
    /// When a rotation retired it; `None` while it signs.
    pub retired_at: Option<i64>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key, sealed or not.
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("encrypted", &self.encrypted)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A signing key to store; see [`SigningKeyRecord`].
#[derive(Clone)]
pub struct NewSigningKey {
    /// The key id: its RFC 7638 thumbprint.
    pub kid: String,
    /// The JWS `alg` it signs with.
    pub algorithm: String,
    /// The private key's DER, sealed when `encrypted`.
    pub private_key: Vec<u8>,
    /// Whether `private_key` is sealed with the key-encryption key.
    pub encrypted: bool,
    /// The public half, as a JWK in JSON.
    pub public_jwk: String,
    /// When it is made, seconds since the Unix epoch.
    pub created_at: i64,
}

/// Signing keys: the ones that sign now and the retired ones still published.
#[async_trait]
pub trait SigningKeys: Send + Sync + 'static {
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Stores `keys` in one transaction. With `retire`, every key still active for one
    /// of their algorithms is retired at `now` in the same transaction (rotation);
    /// without it, keys are added only for algorithms that have no active key yet, so a
    /// restart adds none. (Two instances starting at the same moment on PostgreSQL may
    /// each add one; both are then published, and the newer signs.)
    async fn add_signing_keys(&self, keys: &[NewSigningKey], retire: bool, now: i64) -> Result<()>;
}

#[async_trait]
impl<L: super::PassThrough<dyn SigningKeys>> SigningKeys for L {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
        self.inner().signing_keys().await
    }
    async fn add_signing_keys(&self, keys: &[NewSigningKey], retire: bool, now: i64) -> Result<()> {
        self.inner().add_signing_keys(keys, retire, now).await
    }
}

/// Implements [`SigningKeys`] for a backend (see the module documentation of `store`).
macro_rules! signing_keys_sql {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl SigningKeys for $store {
            async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>> {
                Ok(sqlx::query_as(
                    "SELECT id, kid, algorithm, private_key, encrypted, public_jwk, created_at, retired_at \
                     FROM signing_keys ORDER BY created_at DESC, id DESC",
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn add_signing_keys(&self, keys: &[NewSigningKey], retire: bool, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                for key in keys {
                    if retire {
                        sqlx::query(
                            "UPDATE signing_keys SET retired_at = $1 WHERE algorithm = $2 AND retired_at IS NULL",
                        )
                        .bind(now)
                        .bind(&key.algorithm)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        let active: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM signing_keys WHERE algorithm = $1 AND retired_at IS NULL",
                        )
                        .bind(&key.algorithm)
                        .fetch_one(&mut *tx)
                        .await?;
                        if active > 0 {
                            continue;
                        }
                    }
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, algorithm, private_key, encrypted, public_jwk, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&key.kid)
                    .bind(&key.algorithm)
                    .bind(&key.private_key)
                    .bind(key.encrypted)
                    .bind(&key.public_jwk)
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, "signing key id"))?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use signing_keys_sql;
