//! Client authentication at the token endpoint: a client secret, or a
//! certificate whose private key signs a client assertion (`private_key_jwt`, OpenID Connect Core 1.0 §9 and RFC 7523
//! §2.2). Entra recommends certificates over secrets for production
//! applications, and some tenants forbid secrets by policy.
//!
//! Entra's certificate credential format has the header `alg` PS256, `typ`
//! JWT and `x5t#S256`, the base64url SHA-256 thumbprint of the certificate's
//! DER encoding. Its claims are `aud` (the token endpoint), `iss` and `sub`
//! (the client id), a unique `jti`, and `nbf`, `iat` and a short `exp`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::pss::BlindedSigningKey;
use rsa::rand_core::OsRng;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::json;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode};

use crate::config::ClientSecret;
use crate::error::SsoError;

/// Lifetime of one client assertion. Entra advises 5 to 10 minutes at most,
/// and each token request signs a new one.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credential of the app registration.
#[derive(Clone, Debug)]
pub enum ClientCredential {
    Secret(ClientSecret),
    Certificate(Box<ClientCertificate>),
}

impl From<ClientSecret> for ClientCredential {
    fn from(secret: ClientSecret) -> ClientCredential {
        ClientCredential::Secret(secret)
    }
}

impl From<ClientCertificate> for ClientCredential {
    fn from(certificate: ClientCertificate) -> ClientCredential {
        ClientCredential::Certificate(Box::new(certificate))
    }
}

impl ClientCredential {
    /// Form fields that authenticate one token request to `token_endpoint`.
    /// A secret travels through openidconnect's own client authentication,
    /// so it adds none here.
    pub(crate) fn assertion_fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Vec<(&'static str, String)> {
        match self {
            ClientCredential::Secret(_) => Vec::new(),
            ClientCredential::Certificate(certificate) => vec![
                ("client_assertion_type", JWT_BEARER_ASSERTION.to_string()),
                (
                    "client_assertion",
                    certificate.assertion(client_id, token_endpoint, SystemTime::now()),
                ),
            ],
        }
    }
}

/// An X.509 certificate registered with the app and its RSA private key.
/// `Debug` shows the thumbprint and expiry, never the key.
#[derive(Clone)]
pub struct ClientCertificate {
    signing_key: BlindedSigningKey<Sha256>,
    thumbprint_sha256: String,
    not_after: SystemTime,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint_sha256", &self.thumbprint_sha256)
            .field("not_after", &self.not_after)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl ClientCertificate {
    /// Reads a PEM certificate and its PEM private key (PKCS #8 or PKCS #1)
    /// and checks that they belong together and that the certificate is
    /// valid now.
    pub fn from_pem(certificate: &str, private_key: &str) -> Result<ClientCertificate, SsoError> {
        ClientCertificate::from_pem_at(certificate, private_key, SystemTime::now())
    }

    /// Reads the certificate and key as [`from_pem`](Self::from_pem) does,
    /// checking the validity at `now`.
    pub fn from_pem_at(
        certificate: &str,
        private_key: &str,
        now: SystemTime,
    ) -> Result<ClientCertificate, SsoError> {
        // The thumbprint is taken over the DER bytes as uploaded. Parsing and
        // encoding again could change them (a DER default such as an explicit
        // `critical FALSE` is dropped), and Entra matches the thumbprint of
        // the bytes it was given.
        let der = match x509_cert::der::pem::decode_vec(certificate.trim().as_bytes()) {
            Ok(("CERTIFICATE", der)) => der,
            Ok((label, _)) => {
                return Err(invalid_certificate(format!(
                    "is a PEM `{label}`, not a certificate; paste the .cer or .pem file that \
                     was uploaded to the app registration, from -----BEGIN CERTIFICATE----- on"
                )));
            }
            Err(e) => {
                return Err(invalid_certificate(format!(
                    "is not PEM ({e}); paste the .cer or .pem file that was uploaded to the app \
                     registration, from -----BEGIN CERTIFICATE----- on"
                )));
            }
        };
        let parsed = Certificate::from_der(&der)
            .map_err(|e| invalid_certificate(format!("is not an X.509 certificate ({e})")))?;
        let validity = &parsed.tbs_certificate.validity;
        let not_before = validity.not_before.to_system_time();
        let not_after = validity.not_after.to_system_time();
        if now < not_before {
            return Err(invalid_certificate(format!(
                "is not valid before {}; use a certificate that is valid now",
                rfc3339(not_before)
            )));
        }
        if now >= not_after {
            return Err(invalid_certificate(format!(
                "expired at {}; upload a new certificate to the app registration and use it here",
                rfc3339(not_after)
            )));
        }

        let key = read_private_key(private_key)?;
        let certificate_key = parsed
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .ok()
            .and_then(|spki| RsaPublicKey::from_public_key_der(&spki).ok())
            .ok_or_else(|| {
                invalid_certificate("does not hold an RSA public key; Entra signs client assertions only with RSA keys")
            })?;
        if RsaPublicKey::from(&key) != certificate_key {
            return Err(SsoError::InvalidConfig {
                field: "client_private_key",
                problem: "does not belong to client_certificate; use the private key that the \
                          certificate was created with"
                    .to_string(),
            });
        }

        Ok(ClientCertificate {
            signing_key: BlindedSigningKey::new(key),
            thumbprint_sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
            not_after,
        })
    }

    /// Returns the base64url SHA-256 thumbprint that assertions carry as
    /// `x5t#S256`.
    pub fn thumbprint_sha256(&self) -> &str {
        &self.thumbprint_sha256
    }

    /// Returns when the certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Signs a client assertion for one request to `token_endpoint`.
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: SystemTime,
    ) -> String {
        let issued = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": self.thumbprint_sha256,
        });
        let claims = json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": issued,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signing_key
            .sign_with_rng(&mut OsRng, signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// Returns the public key in DER, for tests that verify assertions.
    #[cfg(test)]
    fn public_key_der(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePublicKey;
        use rsa::signature::Keypair;
        self.signing_key
            .verifying_key()
            .as_ref()
            .to_public_key_der()
            .expect("an RSA public key encodes")
            .into_vec()
    }
}

fn read_private_key(pem: &str) -> Result<RsaPrivateKey, SsoError> {
    let pem = pem.trim();
    let invalid = |problem: &str| SsoError::InvalidConfig {
        field: "client_private_key",
        problem: problem.to_string(),
    };
    if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(invalid(
            "is encrypted; store it unencrypted here (for example with \
             `openssl pkcs8 -in key.pem -out plain.pem`), since Lockgate has no passphrase to open it",
        ));
    }
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| {
            invalid(
                "is not a PEM RSA private key; paste the key as -----BEGIN PRIVATE KEY----- \
                 (PKCS #8) or -----BEGIN RSA PRIVATE KEY----- (PKCS #1)",
            )
        })
}

fn invalid_certificate(problem: impl Into<String>) -> SsoError {
    SsoError::InvalidConfig {
        field: "client_certificate",
        problem: problem.into(),
    }
}

fn rfc3339(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| format!("{seconds} seconds after 1970"))
}

#[cfg(test)]
mod tests {
    use rsa::pss::VerifyingKey;
    use rsa::signature::Verifier;
    use serde_json::Value;

    use super::*;

    const CERTIFICATE: &str = include_str!("../tests/entra/keys/client.crt");
    const KEY: &str = include_str!("../tests/entra/keys/client.pem");
    const KEY_PKCS1: &str = include_str!("../tests/entra/keys/client-pkcs1.pem");
    const KEY_ENCRYPTED: &str = include_str!("../tests/entra/keys/client-encrypted.pem");
    const OTHER_KEY: &str = include_str!("../tests/entra/keys/key-a.pem");
    const CLIENT_ID: &str = "3c9d6a1e-8f42-4b7a-a0d5-6e1f2b3c4d55";
    const TOKEN_ENDPOINT: &str =
        "https://login.example/7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11/oauth2/v2.0/token";

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn problem(result: Result<ClientCertificate, SsoError>) -> (&'static str, String) {
        match result.unwrap_err() {
            SsoError::InvalidConfig { field, problem } => (field, problem),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn assertion_follows_entra_certificate_credential_format() {
        let certificate = ClientCertificate::from_pem(CERTIFICATE, KEY).unwrap();
        let now = SystemTime::now();
        let assertion = certificate.assertion(CLIENT_ID, TOKEN_ENDPOINT, now);
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);

        let header = decode(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        let (_, der) = x509_cert::der::pem::decode_vec(CERTIFICATE.as_bytes()).unwrap();
        assert_eq!(
            header["x5t#S256"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(&der))
        );

        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], TOKEN_ENDPOINT);
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        let issued = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(claims["nbf"], issued);
        assert_eq!(claims["iat"], issued);
        assert_eq!(claims["exp"], issued + 300);
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());

        let public = RsaPublicKey::from_public_key_der(&certificate.public_key_der()).unwrap();
        let signature =
            rsa::pss::Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice())
                .unwrap();
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        VerifyingKey::<Sha256>::new(public)
            .verify(signing_input.as_bytes(), &signature)
            .expect("the PS256 signature verifies with the certificate's key");
    }

    #[test]
    fn each_assertion_has_its_own_jti() {
        let certificate = ClientCertificate::from_pem(CERTIFICATE, KEY).unwrap();
        let now = SystemTime::now();
        let jti = |assertion: String| decode(assertion.split('.').nth(1).unwrap())["jti"].clone();
        assert_ne!(
            jti(certificate.assertion(CLIENT_ID, TOKEN_ENDPOINT, now)),
            jti(certificate.assertion(CLIENT_ID, TOKEN_ENDPOINT, now))
        );
    }

    #[test]
    fn pkcs1_key_is_accepted() {
        let pkcs8 = ClientCertificate::from_pem(CERTIFICATE, KEY).unwrap();
        let pkcs1 = ClientCertificate::from_pem(CERTIFICATE, KEY_PKCS1).unwrap();
        assert_eq!(pkcs8.public_key_der(), pkcs1.public_key_der());
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let (field, problem) = problem(ClientCertificate::from_pem(CERTIFICATE, OTHER_KEY));
        assert_eq!(field, "client_private_key");
        assert!(problem.contains("does not belong"), "{problem}");
    }

    #[test]
    fn encrypted_key_is_refused_with_the_fix() {
        let (field, problem) = problem(ClientCertificate::from_pem(CERTIFICATE, KEY_ENCRYPTED));
        assert_eq!(field, "client_private_key");
        assert!(problem.contains("openssl pkcs8"), "{problem}");
    }

    #[test]
    fn expired_certificate_is_refused() {
        let after_expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(5_000_000_000);
        let (field, problem) = problem(ClientCertificate::from_pem_at(
            CERTIFICATE,
            KEY,
            after_expiry,
        ));
        assert_eq!(field, "client_certificate");
        assert!(problem.contains("expired at 2126-"), "{problem}");
    }

    #[test]
    fn certificate_not_yet_valid_is_refused() {
        let (field, problem) = problem(ClientCertificate::from_pem_at(
            CERTIFICATE,
            KEY,
            SystemTime::UNIX_EPOCH,
        ));
        assert_eq!(field, "client_certificate");
        assert!(problem.contains("not valid before"), "{problem}");
    }

    #[test]
    fn text_that_is_no_certificate_is_refused() {
        let (field, problem) = problem(ClientCertificate::from_pem(KEY, KEY));
        assert_eq!(field, "client_certificate");
        assert!(problem.contains("BEGIN CERTIFICATE"), "{problem}");
    }

    #[test]
    fn debug_shows_no_key() {
        let certificate = ClientCertificate::from_pem(CERTIFICATE, KEY).unwrap();
        let shown = format!("{certificate:?}");
        assert!(shown.contains(certificate.thumbprint_sha256()), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
