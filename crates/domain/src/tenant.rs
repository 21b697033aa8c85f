//! Tenant slugs: the short name that appears in a tenant's URLs.

use std::fmt;

/// A tenant slug: 2 to 63 characters of lower-case ASCII letters, digits and
/// hyphens, starting with a letter, so it is safe in a URL path and a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant slug {0:?}: use 2 to 63 lower-case letters, digits and hyphens, \
     starting with a letter, such as \"st-marys-hospital\""
)]
pub struct SlugError(pub String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, SlugError> {
        let valid = (2..=63).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && !text.ends_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Slug(text.to_string()))
        } else {
            Err(SlugError(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_dns_like_names() {
        assert!(Slug::parse("st-marys").is_ok());
        assert!(Slug::parse("depot42").is_ok());
    }

    #[test]
    fn slug_rejects_other_shapes() {
        for bad in [
            "",
            "a",
            "Upper",
            "1abc",
            "with space",
            "trailing-",
            "a/b",
            &"x".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
    }
}
