//! `[gateway.admin]`: where the admin API listens and the token it wants.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The environment variable read for the admin token when the file sets none.
pub const TOKEN_ENV: &str = "GRAYGATE_ADMIN_TOKEN";

/// `[gateway.admin]` as written; see `docs/operations.md`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve the admin API. Default true.
    pub enabled: bool,
    /// Where the admin API listens. Default `127.0.0.1:9180`. Off loopback,
    /// every call needs the token, and a token is required to start.
    pub listen: SocketAddr,
    /// The bearer token writes need (reads too, off loopback). Prefer
    /// `token_file` or the `GRAYGATE_ADMIN_TOKEN` variable to keep it out of
    /// the file. Default: none, and then every write is refused.
    pub token: Option<String>,
    /// A file holding the token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9180)),
            token: None,
            token_file: None,
        }
    }
}

impl AdminConfig {
    /// The token from `token`, else `token_file`, else `GRAYGATE_ADMIN_TOKEN`.
    pub fn resolve_token(&self) -> Result<Option<String>, String> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("gateway.admin.token_file {}: {e}", path.display()))?;
            return Ok(Some(text.trim().to_owned()));
        }
        Ok(std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty()))
    }

    /// Whether only this host can reach the listener.
    pub fn is_loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }
}
