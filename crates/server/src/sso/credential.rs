//! The client credential of an identity connection: a client secret, or a
//! certificate with its private key for `private_key_jwt`. Admins send it
//! with the connection and never get it back. Reads show only its kind and,
//! for a certificate, its thumbprint and expiry.

use std::fmt;
use std::time::{Duration, SystemTime};

use lockgate_sso::{ClientCertificate, ClientCredential, ClientSecret, SsoError};
use lockgate_store::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A certificate this close to expiry gets a warning on every read.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// The stored form, kept as JSON in the store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum StoredCredential {
    Secret {
        secret: String,
    },
    Certificate {
        certificate: String,
        private_key: String,
    },
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredCredential::Secret { .. } => f.write_str("Secret([redacted])"),
            StoredCredential::Certificate { .. } => f.write_str("Certificate([redacted])"),
        }
    }
}

/// The credential fields of a save request, each optional. It has no
/// `Debug`, so that no log can print them.
#[derive(Default)]
pub(crate) struct CredentialFields {
    pub client_secret: Option<String>,
    pub client_certificate: Option<String>,
    pub client_private_key: Option<String>,
}

impl StoredCredential {
    /// Decides what to store from the request and what is stored already.
    /// Absent fields keep the stored credential, so settings can change
    /// without sending the secret again.
    pub(crate) fn from_request(
        fields: CredentialFields,
        existing: Option<StoredCredential>,
    ) -> Result<StoredCredential, String> {
        let present =
            |field: &Option<String>| field.as_deref().is_some_and(|text| !text.is_empty());
        let secret = present(&fields.client_secret)
            .then_some(fields.client_secret)
            .flatten();
        let certificate = present(&fields.client_certificate)
            .then_some(fields.client_certificate)
            .flatten();
        let key = present(&fields.client_private_key)
            .then_some(fields.client_private_key)
            .flatten();
        match (secret, certificate, key, existing) {
            (Some(_), Some(_), _, _) | (Some(_), _, Some(_), _) => Err(
                "send either client_secret, or client_certificate with client_private_key, not both"
                    .into(),
            ),
            (Some(secret), None, None, _) => Ok(StoredCredential::Secret { secret }),
            (None, Some(certificate), Some(private_key), _) => Ok(StoredCredential::Certificate {
                certificate,
                private_key,
            }),
            // A renewed certificate for the same key pair.
            (
                None,
                Some(certificate),
                None,
                Some(StoredCredential::Certificate { private_key, .. }),
            ) => Ok(StoredCredential::Certificate {
                certificate,
                private_key,
            }),
            (None, Some(_), None, _) => Err(
                "client_private_key is required with a new client_certificate; send the PEM \
                 private key that the certificate was created with"
                    .into(),
            ),
            (None, None, Some(_), _) => Err(
                "client_private_key was sent without client_certificate; send both, as PEM".into(),
            ),
            (None, None, None, Some(existing)) => Ok(existing),
            (None, None, None, None) => Err(
                "a client credential is required the first time: client_secret, or \
                 client_certificate with client_private_key, from Certificates & secrets of the \
                 app registration"
                    .into(),
            ),
        }
    }

    pub(crate) fn from_secret(stored: &Secret) -> Result<StoredCredential, String> {
        serde_json::from_str(stored.expose())
            .map_err(|_| "the stored client credential is unreadable; save the identity connection again with its credential".to_string())
    }

    pub(crate) fn to_secret(&self) -> Secret {
        Secret::from_string(serde_json::to_string(self).expect("a credential serializes"))
    }

    /// Builds the credential for the relying party, checking a
    /// certificate's PEM form, its key and its validity now.
    pub(crate) fn client_credential(&self) -> Result<ClientCredential, SsoError> {
        Ok(match self {
            StoredCredential::Secret { secret } => ClientSecret::new(secret.clone()).into(),
            StoredCredential::Certificate {
                certificate,
                private_key,
            } => ClientCertificate::from_pem(certificate, private_key)?.into(),
        })
    }

    /// Returns what an admin may see of the credential, and a warning when
    /// a certificate is about to expire.
    pub(crate) fn describe(&self) -> (Value, Option<String>) {
        let StoredCredential::Certificate {
            certificate,
            private_key,
        } = self
        else {
            return (json!({ "kind": "secret" }), None);
        };
        let Ok(parsed) = ClientCertificate::from_pem(certificate, private_key) else {
            return (
                json!({ "kind": "certificate", "valid": false }),
                Some("client_certificate is expired or unreadable; upload a new certificate to the app registration and save it here".into()),
            );
        };
        let not_after = OffsetDateTime::from(parsed.not_after())
            .format(&Rfc3339)
            .unwrap_or_default();
        let warning = (parsed.not_after() < SystemTime::now() + EXPIRY_WARNING).then(|| {
            format!(
                "client_certificate expires at {not_after}; upload a new certificate to the app \
                 registration and save it here before then, or sign-in stops"
            )
        });
        (
            json!({
                "kind": "certificate",
                "valid": true,
                "thumbprint_sha256": parsed.thumbprint_sha256(),
                "not_after": not_after,
            }),
            warning,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(
        secret: Option<&str>,
        certificate: Option<&str>,
        key: Option<&str>,
    ) -> CredentialFields {
        CredentialFields {
            client_secret: secret.map(str::to_string),
            client_certificate: certificate.map(str::to_string),
            client_private_key: key.map(str::to_string),
        }
    }

    fn certificate(certificate: &str, key: &str) -> StoredCredential {
        StoredCredential::Certificate {
            certificate: certificate.into(),
            private_key: key.into(),
        }
    }

    #[test]
    fn secret_and_certificate_together_are_refused() {
        let error = StoredCredential::from_request(fields(Some("s"), Some("c"), Some("k")), None)
            .unwrap_err();
        assert!(error.contains("not both"), "{error}");
    }

    #[test]
    fn absent_fields_keep_the_stored_credential() {
        let stored = certificate("c", "k");
        let kept = StoredCredential::from_request(fields(None, None, None), Some(stored.clone()));
        assert_eq!(kept.unwrap(), stored);
    }

    #[test]
    fn renewed_certificate_keeps_the_stored_key() {
        let renewed = StoredCredential::from_request(
            fields(None, Some("c2"), None),
            Some(certificate("c", "k")),
        );
        assert_eq!(renewed.unwrap(), certificate("c2", "k"));
    }

    #[test]
    fn certificate_replacing_a_secret_needs_its_key() {
        let secret = StoredCredential::Secret { secret: "s".into() };
        let error = StoredCredential::from_request(fields(None, Some("c"), None), Some(secret))
            .unwrap_err();
        assert!(error.contains("client_private_key is required"), "{error}");
    }

    #[test]
    fn key_without_certificate_is_refused() {
        let error =
            StoredCredential::from_request(fields(None, None, Some("k")), None).unwrap_err();
        assert!(error.contains("without client_certificate"), "{error}");
    }

    #[test]
    fn first_save_needs_a_credential() {
        let error = StoredCredential::from_request(fields(Some(""), None, None), None).unwrap_err();
        assert!(error.contains("required the first time"), "{error}");
    }

    #[test]
    fn stored_form_round_trips_and_debug_hides_it() {
        let stored = certificate("-----BEGIN CERTIFICATE-----", "-----BEGIN PRIVATE KEY-----");
        let secret = stored.to_secret();
        assert_eq!(StoredCredential::from_secret(&secret).unwrap(), stored);
        assert!(!format!("{stored:?}").contains("BEGIN"));
    }
}
