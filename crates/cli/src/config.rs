//! Configuration: defaults, then a TOML file, then `LOCKGATE_` environment
//! variables (sections joined by `__`, as in `LOCKGATE_SERVER__LISTEN`),
//! then command-line flags. Unknown keys are errors, so a misspelt setting
//! is reported instead of silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub scim: ScimSection,
    pub provisioning_log: ProvisioningLogSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Externally visible base URL, such as `https://lockers.example`; used
    /// in SCIM `meta.location` and printed tenant URLs.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// `postgres://...` or `sqlite://...`; when unset, `lockgate.db` in the data directory.
    pub url: Option<String>,
    /// Connection pool size; unset picks 4 for SQLite and 16 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// SQLite `synchronous`: `normal` survives a process crash, `full` also power loss.
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScimSection {
    /// Lifetime of access tokens from the OAuth token endpoint, in seconds.
    pub access_token_lifetime_secs: u64,
    /// How long the previous SCIM token stays valid after a rotation, in hours.
    pub token_rotation_grace_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningLogSection {
    pub retention_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `lockgate_server=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: None,
            sqlite_synchronous: "normal".into(),
        }
    }
}

impl Default for ScimSection {
    fn default() -> Self {
        Self {
            access_token_lifetime_secs: 3600,
            token_rotation_grace_hours: 72,
        }
    }
}

impl Default for ProvisioningLogSection {
    fn default() -> Self {
        Self { retention_days: 30 }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!(
                    "configuration file {} does not exist; check --config",
                    file.display()
                );
            }
            figment = figment.merge(Toml::file(file));
        }
        // Only `LOCKGATE_SECTION__KEY` variables are settings; single-level
        // ones such as LOCKGATE_DATA_DIR are command-line flags.
        let env = Env::prefixed("LOCKGATE_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        let config: Config = figment
            .merge(env)
            .extract()
            .context("invalid configuration (file or LOCKGATE_ environment variables)")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        // EnvFilter reads a bare word such as "verbose" as a target name and
        // then logs nothing else, so each directive must name a level.
        const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
        let valid = self.log.level.split(',').all(|directive| {
            let level = directive.rsplit('=').next().unwrap_or_default().trim();
            LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level))
        });
        if !valid || tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            anyhow::bail!(
                "log.level {:?} is not valid; use error, warn, info, debug or trace, \
                 or directives such as lockgate_server=debug,info",
                self.log.level
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            anyhow::bail!(
                "log.format {:?} is not valid; use text or json",
                self.log.format
            );
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("server.public_url {url:?} must start with https:// or http://");
        }
        if !(60..=86_400).contains(&self.scim.access_token_lifetime_secs) {
            anyhow::bail!(
                "scim.access_token_lifetime_secs {} is out of range; use 60 to 86400 (Entra expects 3600 to 21600)",
                self.scim.access_token_lifetime_secs
            );
        }
        Ok(())
    }

    pub fn database_url(&self, data_dir: &Path) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", data_dir.join("lockgate.db").display()),
        }
    }

    /// Returns the base URL clients use: the public URL, or the listen address.
    pub fn public_base(&self) -> String {
        match &self.server.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.server.listen),
        }
    }

    pub fn server_config(&self) -> lockgate_server::ServerConfig {
        lockgate_server::ServerConfig {
            public_url: self.server.public_url.clone(),
            access_token_lifetime: Duration::from_secs(self.scim.access_token_lifetime_secs),
            provisioning_log_retention: Duration::from_secs(
                self.provisioning_log.retention_days * 86_400,
            ),
            ..lockgate_server::ServerConfig::default()
        }
    }
}

/// Returns the default data directory, `./lockgate-data`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("lockgate-data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lockgate.toml");
        std::fs::write(&file, "[server]\nlisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&file)).unwrap_err());
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn file_values_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lockgate.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[provisioning_log]\nretention_days = 7\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.provisioning_log.retention_days, 7);
    }
}
