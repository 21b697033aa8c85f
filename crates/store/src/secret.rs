//! Secrets: generated from the OS random source, shown once, stored only as
//! a SHA-256 hash.
//!
//! A slow password hash (argon2) is for low-entropy secrets that people
//! choose. These tokens carry 256 random bits, so a fast hash is enough to
//! make a stolen database useless, and it lets a request find its credential
//! by an indexed hash lookup instead of comparing secrets one by one.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret in clear text. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Generates a random secret with a readable prefix such as `lgs_`, which
    /// secret scanners and people can recognise.
    pub fn generate(prefix: &str) -> Secret {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn from_string(text: String) -> Secret {
        Secret(text)
    }

    /// Returns the clear text, for showing once to the person who created it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Returns the SHA-256 hash a secret is stored and looked up by.
pub fn hash_secret_text(text: &str) -> String {
    hash_secret(text)
}

pub(crate) fn hash_secret(text: &str) -> String {
    // Device and SCIM tokens are hashed on every request, so this avoids
    // formatting each byte on its own.
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let secret = Secret::generate("lgs_");
        assert!(!format!("{secret:?}").contains(&secret.expose()[4..]));
    }

    #[test]
    fn generated_secrets_differ_and_carry_the_prefix() {
        let a = Secret::generate("lgs_");
        let b = Secret::generate("lgs_");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("lgs_"));
        assert_eq!(a.expose().len(), 4 + 43);
    }
}
