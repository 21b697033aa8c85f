//! ID token validation: OpenID Connect Core 1.0 §3.1.3.7 plus Entra's
//! issuer, tenant and identity rules.
//!
//! openidconnect checks the signature, `aud`, `exp` and `nonce`. Its issuer
//! check is switched off because it can only compare with one fixed string,
//! while Entra's multi-tenant issuer is a template. The issuer is compared
//! exactly in [`check_issuer`] instead, after the signature has been verified.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenVerifier, IssuerUrl,
    JsonWebKeySet, Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::PERSONAL_ACCOUNT_TENANT;
use crate::config::is_guid;
use crate::discovery::TENANT_TEMPLATE;
use crate::error::SsoError;
use crate::keys::KeyCache;
use crate::sign_in::SignIn;

/// Entra claims beyond the standard ones, read only after verification.
/// Loosely typed members are checked one by one so that an unexpected shape
/// names the claim instead of failing the whole token.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct EntraClaims {
    tid: Option<String>,
    oid: Option<String>,
    ver: Option<String>,
    nbf: Option<Value>,
    groups: Option<Value>,
    hasgroups: Option<Value>,
    #[serde(rename = "_claim_names")]
    claim_names: Option<Value>,
    roles: Option<Value>,
    acrs: Option<Value>,
    sid: Option<String>,
    login_hint: Option<String>,
}

impl AdditionalClaims for EntraClaims {}

type JsonObject = Map<String, Value>;

type EntraIdToken = IdToken<
    EntraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Group membership as the ID token reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupsClaim {
    /// The `groups` claim, complete.
    Listed,
    /// Group overage: `_claim_names.groups` or `hasgroups`. Membership is
    /// unknown, not empty, and must come from Microsoft Graph.
    Overage,
    /// No groups claim, because the app registration does not request one.
    NotEmitted,
}

/// Inputs of a verification that do not change per token.
pub(crate) struct Verifier<'a> {
    pub client_id: &'a str,
    /// The discovery document's issuer, possibly with the `{tenantid}` template.
    pub document_issuer: &'a str,
    /// Lower-case tenant GUIDs.
    pub allowed_tenants: &'a [String],
    pub clock_skew_seconds: u64,
    pub keys: &'a KeyCache,
    pub http: &'a reqwest::Client,
}

impl Verifier<'_> {
    /// Verifies a raw ID token and returns the sign-in with the groups of the
    /// token, plus whether those groups are complete.
    pub(crate) async fn verify(
        &self,
        raw: &str,
        expected_nonce: &str,
    ) -> Result<(SignIn, GroupsClaim), SsoError> {
        let (header, payload) = decode_unverified(raw)?;

        // Entra signs ID tokens with RS256 only. Checking the header first
        // rejects `none` and HS256. An HS256 token can be forged by anyone who
        // has the client secret.
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" {
            return Err(SsoError::UnsupportedAlgorithm {
                alg: alg.to_string(),
            });
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(SsoError::MissingKeyId)?;

        let token: EntraIdToken = raw.parse().map_err(|error| SsoError::MalformedIdToken {
            problem: format!("its claims could not be read ({error})"),
        })?;
        let key = self.keys.key(kid, self.http).await?;

        let now = unix_now();
        let skew = i64::try_from(self.clock_skew_seconds).unwrap_or(i64::MAX);
        // openidconnect rejects when its current time is at or past `exp`;
        // moving its clock back by the skew allows that much lateness.
        let shifted_now = DateTime::<Utc>::from_timestamp(now.saturating_sub(skew), 0)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let placeholder_issuer =
            IssuerUrl::new("https://issuer.invalid/".to_string()).expect("a constant URL parses");
        let verifier = IdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.to_string()),
            placeholder_issuer,
            JsonWebKeySet::new(vec![key.jwk.clone()]),
        )
        .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
        .require_issuer_match(false)
        // Further audiences are accepted only with `azp` naming this client,
        // which is checked below (OpenID Connect Core 1.0 §3.1.3.7 steps 3 to 5).
        .set_other_audience_verifier_fn(|_| true)
        .set_time_fn(move || shifted_now);

        let nonce = Nonce::new(expected_nonce.to_string());
        let claims = token
            .claims(&verifier, &nonce)
            .map_err(|error| self.claims_error(error, kid, &payload, now))?;

        // Everything below reads verified claims.
        let extra = claims.additional_claims();

        let audiences: Vec<String> = claims
            .audiences()
            .iter()
            .map(|aud| aud.to_string())
            .collect();
        let azp = claims.authorized_party().map(|azp| azp.to_string());
        if (audiences.len() > 1 || azp.is_some()) && azp.as_deref() != Some(self.client_id) {
            return Err(SsoError::AuthorizedPartyMismatch {
                expected: self.client_id.to_string(),
                found: azp,
            });
        }

        if let Some(not_before) = extra.nbf.as_ref().map(numeric_date).transpose()?
            && not_before > now.saturating_add(skew)
        {
            return Err(SsoError::NotYetValid {
                not_before,
                now,
                skew_seconds: self.clock_skew_seconds,
            });
        }

        // v1 tokens carry another issuer form and claim set; only v2 is supported.
        if let Some(ver) = &extra.ver
            && ver != "2.0"
        {
            return Err(SsoError::UnsupportedTokenVersion { ver: ver.clone() });
        }

        let tid = required_guid(extra.tid.as_deref(), "tid")?;
        self.check_tenant(&tid)?;
        let oid = required_guid(extra.oid.as_deref(), "oid")?;
        check_issuer(
            claims.issuer().as_str(),
            &tid,
            self.document_issuer,
            key.issuer.as_deref(),
        )?;

        let groups_claim = groups_claim(extra);
        let groups = match &extra.groups {
            Some(value) => string_list("groups", value)?,
            None => Vec::new(),
        };
        let sign_in = SignIn {
            tid,
            oid,
            sub: claims.subject().to_string(),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.to_string()),
            preferred_username: claims
                .preferred_username()
                .map(|username| username.to_string()),
            email: claims.email().map(|email| email.to_string()),
            groups,
            groups_from_graph: false,
            roles: optional_string_list("roles", extra.roles.as_ref())?,
            auth_contexts: optional_string_list("acrs", extra.acrs.as_ref())?,
            sid: extra.sid.clone(),
            login_hint: extra.login_hint.clone(),
            id_token: raw.to_string(),
            expires_at: claims.expiration().timestamp(),
        };
        Ok((sign_in, groups_claim))
    }

    /// Requires `tid` to be an allowed tenant. The personal-account tenant
    /// gets its own error, since those users need a work or school account.
    fn check_tenant(&self, tid: &str) -> Result<(), SsoError> {
        if self.allowed_tenants.iter().any(|allowed| allowed == tid) {
            return Ok(());
        }
        if tid == PERSONAL_ACCOUNT_TENANT {
            return Err(SsoError::PersonalAccountNotAllowed);
        }
        Err(SsoError::TenantNotAllowed {
            tid: tid.to_string(),
        })
    }

    fn claims_error(
        &self,
        error: ClaimsVerificationError,
        kid: &str,
        payload: &JsonObject,
        now: i64,
    ) -> SsoError {
        match error {
            ClaimsVerificationError::InvalidAudience(_) => SsoError::AudienceMismatch {
                expected: self.client_id.to_string(),
                found: match payload.get("aud") {
                    Some(Value::String(aud)) => vec![aud.clone()],
                    Some(Value::Array(list)) => list
                        .iter()
                        .map(|aud| aud.as_str().map_or_else(|| aud.to_string(), str::to_string))
                        .collect(),
                    _ => Vec::new(),
                },
            },
            ClaimsVerificationError::Expired(_) => SsoError::Expired {
                expires_at: payload.get("exp").and_then(Value::as_i64).unwrap_or(0),
                now,
                skew_seconds: self.clock_skew_seconds,
            },
            ClaimsVerificationError::InvalidNonce(_) => SsoError::NonceMismatch,
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::CryptoError(_)
                | SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::InvalidKey(_),
            ) => SsoError::InvalidSignature {
                kid: kid.to_string(),
            },
            other => SsoError::MalformedIdToken {
                problem: other.to_string(),
            },
        }
    }
}

/// Applies Microsoft's issuer rule: the issuer of the discovery document, and
/// the `issuer` member of the signing key if it has one, each with
/// `{tenantid}` replaced by the token's `tid`, must equal `iss` exactly. The
/// tenant segment of `iss` must also be `tid`, so a token cannot pair one
/// tenant's issuer with another tenant's id. Prefix matching would accept
/// tokens of any tenant.
pub(crate) fn check_issuer(
    iss: &str,
    tid: &str,
    document_issuer: &str,
    key_issuer: Option<&str>,
) -> Result<(), SsoError> {
    let mismatch = |expected: String| SsoError::IssuerMismatch {
        expected,
        found: iss.to_string(),
    };

    let expected = document_issuer.replace(TENANT_TEMPLATE, tid);
    if iss != expected {
        return Err(mismatch(expected));
    }
    if let Some(key_issuer) = key_issuer {
        let expected = key_issuer.replace(TENANT_TEMPLATE, tid);
        if iss != expected {
            return Err(mismatch(expected));
        }
    }

    let issuer_tenant = url::Url::parse(iss)
        .ok()
        .and_then(|url| crate::config::tenant_segment(&url).map(str::to_string));
    if issuer_tenant.as_deref() != Some(tid) {
        let expected = match &issuer_tenant {
            Some(segment) => iss.replacen(&format!("/{segment}/"), &format!("/{tid}/"), 1),
            None => format!("an issuer whose first path segment is {tid}"),
        };
        return Err(mismatch(expected));
    }
    Ok(())
}

/// Classifies the groups claims. `hasgroups` comes as `true` or `"true"`.
fn groups_claim(claims: &EntraClaims) -> GroupsClaim {
    if claims.groups.is_some() {
        return GroupsClaim::Listed;
    }
    let named_source = claims
        .claim_names
        .as_ref()
        .and_then(|names| names.get("groups"))
        .is_some();
    let has_groups = match &claims.hasgroups {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    if named_source || has_groups {
        GroupsClaim::Overage
    } else {
        GroupsClaim::NotEmitted
    }
}

fn required_guid(value: Option<&str>, claim: &'static str) -> Result<String, SsoError> {
    let value = value.ok_or(SsoError::MissingClaim {
        claim,
        hint: "Entra adds tid and oid when the profile scope is requested, which this relying \
               party always does, so the token was not issued for this sign-in",
    })?;
    if !is_guid(value) {
        return Err(SsoError::InvalidClaim {
            claim,
            problem: format!("`{value}` is not a GUID"),
        });
    }
    Ok(value.to_ascii_lowercase())
}

fn string_list(claim: &'static str, value: &Value) -> Result<Vec<String>, SsoError> {
    let invalid = || SsoError::InvalidClaim {
        claim,
        problem: "expected an array of strings".to_string(),
    };
    value
        .as_array()
        .ok_or_else(invalid)?
        .iter()
        .map(|item| item.as_str().map(str::to_string).ok_or_else(invalid))
        .collect()
}

fn optional_string_list(
    claim: &'static str,
    value: Option<&Value>,
) -> Result<Vec<String>, SsoError> {
    value.map_or(Ok(Vec::new()), |value| string_list(claim, value))
}

/// Reads a NumericDate (RFC 7519 §2), which may have a fractional part.
fn numeric_date(value: &Value) -> Result<i64, SsoError> {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|seconds| seconds.floor() as i64))
        .ok_or(SsoError::InvalidClaim {
            claim: "nbf",
            problem: "expected a number of seconds".to_string(),
        })
}

/// Decodes the header and claims of a JWS compact serialization without
/// verifying anything, to pick the key and to word errors.
fn decode_unverified(raw: &str) -> Result<(JsonObject, JsonObject), SsoError> {
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() == 5 {
        return Err(SsoError::MalformedIdToken {
            problem: "it is encrypted (JWE), which Entra does not do for ID tokens".to_string(),
        });
    }
    if parts.len() != 3 {
        return Err(SsoError::MalformedIdToken {
            problem: format!(
                "it has {} dot-separated parts instead of the 3 of a signed JWT",
                parts.len()
            ),
        });
    }
    let decode = |part: &str, name: &str| -> Result<JsonObject, SsoError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| SsoError::MalformedIdToken {
                problem: format!("its {name} is not base64url"),
            })?;
        serde_json::from_slice(&bytes).map_err(|_| SsoError::MalformedIdToken {
            problem: format!("its {name} is not a JSON object"),
        })
    };
    Ok((decode(parts[0], "header")?, decode(parts[1], "payload")?))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID_A: &str = "7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11";
    const TID_B: &str = "c4e1d2b3-5a6f-4e70-8b19-3f2a1c0d9e22";

    #[test]
    fn issuer_template_takes_the_token_tid() {
        let iss = format!("https://login.example/{TID_A}/v2.0");
        let template = "https://login.example/{tenantid}/v2.0";
        assert!(check_issuer(&iss, TID_A, template, Some(template)).is_ok());
    }

    #[test]
    fn issuer_of_another_tenant_is_rejected() {
        let iss = format!("https://login.example/{TID_A}/v2.0");
        let template = "https://login.example/{tenantid}/v2.0";
        let error = check_issuer(&iss, TID_B, template, None).unwrap_err();
        assert!(error.to_string().contains(TID_B), "{error}");
    }

    #[test]
    fn concrete_key_issuer_binds_its_tenant() {
        let iss = format!("https://login.example/{TID_A}/v2.0");
        let template = "https://login.example/{tenantid}/v2.0";
        let key_issuer = format!("https://login.example/{TID_B}/v2.0");
        assert!(check_issuer(&iss, TID_A, template, Some(&key_issuer)).is_err());
    }

    #[test]
    fn single_tenant_issuer_needs_matching_tid() {
        let iss = format!("https://login.example/{TID_A}/v2.0");
        assert!(check_issuer(&iss, TID_A, &iss, None).is_ok());
        assert!(check_issuer(&iss, TID_B, &iss, None).is_err());
    }

    #[test]
    fn hasgroups_string_and_bool_mean_overage() {
        for flag in [Value::Bool(true), Value::String("true".to_string())] {
            let claims = EntraClaims {
                hasgroups: Some(flag),
                ..EntraClaims::default()
            };
            assert_eq!(groups_claim(&claims), GroupsClaim::Overage);
        }
        let claims = EntraClaims {
            hasgroups: Some(Value::Bool(false)),
            ..EntraClaims::default()
        };
        assert_eq!(groups_claim(&claims), GroupsClaim::NotEmitted);
    }
}
