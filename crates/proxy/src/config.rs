//! The gateway's own settings: the `[gateway]` table of the configuration
//! file, next to the policy.
//!
//! [`GatewayConfig`] is what operators write (every key optional, unknown keys
//! rejected); [`Settings`] is the checked form the request path reads: parsed
//! CIDR sets, header names and durations, so nothing is re-validated per
//! request. Errors use the policy's [`PolicyError`] so that `graygate check`
//! prints one `line N: gateway.key: message` per problem, whichever half of
//! the file it is in.

mod admin;
mod alerts;

pub use admin::{AdminConfig, TOKEN_ENV};
pub use alerts::{AlertsConfig, webhook_target};

use graygate_policy::cidr::{Cidr, CidrSet};
use graygate_policy::{CompiledPolicy, FieldError, FieldPath, PolicyError, Seg, line_of};
use graygate_store::{LookupConfig, StoreConfig};
use http::HeaderName;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The largest `max_connections` accepted: beyond it the file-descriptor
/// limit, not this setting, is what bounds a gateway.
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// The `[gateway]` table as written. Every key has a default; see
/// `docs/configuration.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address to listen on. Default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Worker threads; 0 means one per core. Default 0.
    pub workers: usize,
    /// Peers whose `X-Forwarded-For`, `X-Real-IP`, `X-Forwarded-Proto` and
    /// gray tag are believed (CIDR ranges or addresses). Default none.
    pub trusted_proxies: Vec<String>,
    /// Largest body read for `form`/`json` rules, in bytes. Default 65536.
    pub body_limit: usize,
    /// Largest request head (request line and headers), in bytes; larger
    /// heads are answered 431. Default 32768 (at least 8192).
    pub max_header_bytes: usize,
    /// Time a client has to send a request head, and a bounded body when a
    /// rule reads it, in milliseconds. Default 30000.
    pub client_timeout_ms: u64,
    /// A kept-alive client connection waiting this long for the first byte
    /// of its next request is closed, in milliseconds (nginx
    /// `keepalive_timeout`). Default 60000.
    pub idle_timeout_ms: u64,
    /// Client connections served at once; one more is answered 503 and
    /// closed. Default 10000.
    pub max_connections: usize,
    /// Status answered when no route matches. Default 404.
    pub no_route_status: u16,
    /// Add the decision headers to responses. Default false.
    pub decision_headers: bool,
    /// Response header naming the group. Default `X-Graygate-Group`.
    pub group_header: String,
    /// Response header carrying the policy version. Default `X-Graygate-Version`.
    pub version_header: String,
    /// Request header naming the chosen group for services further down the
    /// chain (and read back from trusted proxies). Default `X-Gray-Tag`.
    pub tag_header: String,
    /// Access log: `plain`, `json` or `off`. Default `plain`.
    pub access_log: AccessLogFormat,
    /// File to append the access log to; none means standard output.
    pub access_log_path: Option<PathBuf>,
    /// Secret that signs stickiness cookies (at least 16 bytes). Default:
    /// generated once and kept in `data_dir`.
    pub sticky_secret: Option<String>,
    /// Directory for state kept across restarts. Default `graygate-data`.
    pub data_dir: PathBuf,
    /// Time given to in-flight requests after SIGTERM, in seconds. Default 30.
    pub shutdown_timeout_secs: u64,
    /// Default connect timeout of groups, in milliseconds. Default 1000.
    pub connect_timeout_ms: u64,
    /// Default read timeout of groups (response head, and silence within the
    /// body), in milliseconds. Default 30000.
    pub read_timeout_ms: u64,
    /// Default `max_fails` of groups. Default 1.
    pub max_fails: u32,
    /// Default `fail_timeout_secs` of groups. Default 10.
    pub fail_timeout_secs: u64,
    /// Idle upstream connections kept per server. Default 256.
    pub upstream_max_idle: usize,
    /// Idle upstream connections older than this are closed, in seconds. Default 60.
    pub upstream_idle_timeout_secs: u64,
    /// `[gateway.store]`: where the policy's versions live (`docs/store.md`).
    /// Default: the embedded store in `<data_dir>/store`.
    pub store: StoreConfig,
    /// `[gateway.lookup]`: per-user key lookups (`docs/store.md`).
    pub lookup: LookupConfig,
    /// `[gateway.admin]`: the admin API (`docs/operations.md`).
    pub admin: AdminConfig,
    /// Record per-route, per-group metrics (`docs/observability.md`). Default true.
    pub metrics: bool,
    /// `[gateway.alerts]`: canary alerts (`docs/observability.md`).
    pub alerts: AlertsConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            workers: 0,
            trusted_proxies: Vec::new(),
            body_limit: 64 * 1024,
            max_header_bytes: 32 * 1024,
            client_timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_connections: 10_000,
            no_route_status: 404,
            decision_headers: false,
            group_header: "X-Graygate-Group".to_owned(),
            version_header: "X-Graygate-Version".to_owned(),
            tag_header: "X-Gray-Tag".to_owned(),
            access_log: AccessLogFormat::Plain,
            access_log_path: None,
            sticky_secret: None,
            data_dir: PathBuf::from("graygate-data"),
            shutdown_timeout_secs: 30,
            connect_timeout_ms: 1_000,
            read_timeout_ms: 30_000,
            max_fails: 1,
            fail_timeout_secs: 10,
            upstream_max_idle: 256,
            upstream_idle_timeout_secs: 60,
            store: StoreConfig::default(),
            lookup: LookupConfig::default(),
            admin: AdminConfig::default(),
            metrics: true,
            alerts: AlertsConfig::default(),
        }
    }
}

/// The access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// `key=value` pairs after the request line.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
    /// No access log.
    Off,
}

/// The checked settings the request path reads.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The configuration as written.
    pub raw: GatewayConfig,
    /// `trusted_proxies`, parsed.
    pub trusted: CidrSet,
    /// `group_header`, parsed.
    pub group_header: HeaderName,
    /// `version_header`, parsed.
    pub version_header: HeaderName,
    /// `tag_header`, parsed (lower-case).
    pub tag_header: HeaderName,
    /// `no_route_status`, parsed.
    pub no_route_status: http::StatusCode,
    /// `client_timeout_ms`.
    pub client_timeout: Duration,
    /// `idle_timeout_ms`.
    pub idle_timeout: Duration,
}

/// A whole configuration file: the policy and the gateway settings.
#[derive(Debug)]
pub struct Config {
    /// The compiled policy.
    pub policy: CompiledPolicy,
    /// The gateway settings.
    pub settings: Settings,
}

impl Config {
    /// Parses and checks a configuration file's text; every problem of the
    /// policy and of `[gateway]` is reported at once, with its line.
    pub fn from_toml(src: &str, version: u64) -> Result<Config, PolicyError> {
        let policy = graygate_policy::compile_toml(src, version);
        let settings = Settings::from_toml(src);
        match (policy, settings) {
            (Ok(policy), Ok(settings)) => Ok(Config { policy, settings }),
            (Err(mut a), Err(b)) => {
                a.errors.extend(b.errors);
                a.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
                Err(a)
            }
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        }
    }
}

impl Settings {
    /// Reads and checks the `[gateway]` table of a TOML file (defaults when absent).
    pub fn from_toml(src: &str) -> Result<Settings, PolicyError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            gateway: GatewayConfig,
        }
        let file: File = graygate_policy::parse_toml(src)?;
        Settings::check(file.gateway).map_err(|mut e| {
            for fe in &mut e.errors {
                fe.line = line_of(src, &fe.path);
            }
            e
        })
    }

    /// Checks a [`GatewayConfig`]; errors carry paths under `gateway`.
    pub fn check(mut raw: GatewayConfig) -> Result<Settings, PolicyError> {
        let mut errors = Vec::new();
        let mut err = |path: &[Seg], message: String| {
            let mut p = vec![Seg::Key("gateway".to_owned())];
            p.extend_from_slice(path);
            errors.push(FieldError {
                path: FieldPath(p),
                message,
                line: None,
            });
        };
        let key = |k: &str| Seg::Key(k.to_owned());
        let mut trusted = CidrSet::default();
        for (i, t) in raw.trusted_proxies.iter().enumerate() {
            match Cidr::parse(t) {
                Ok(c) => trusted.insert(c),
                Err(m) => err(&[key("trusted_proxies"), Seg::Index(i)], m),
            }
        }
        let mut header = |k: &str, v: &str| match HeaderName::from_bytes(v.as_bytes()) {
            Ok(h) => h,
            Err(_) => {
                err(&[key(k)], format!("invalid header name {v:?}"));
                HeaderName::from_static("x-invalid")
            }
        };
        let group_header = header("group_header", &raw.group_header);
        let version_header = header("version_header", &raw.version_header);
        let tag_header = header("tag_header", &raw.tag_header);
        let no_route_status = match http::StatusCode::from_u16(raw.no_route_status) {
            Ok(s) if s.as_u16() >= 200 => s,
            _ => {
                err(
                    &[key("no_route_status")],
                    "must be an HTTP status between 200 and 599".to_owned(),
                );
                http::StatusCode::NOT_FOUND
            }
        };
        if raw.max_header_bytes < 8192 {
            err(&[key("max_header_bytes")], "must be at least 8192".to_owned());
        }
        if raw.body_limit > 16 << 20 {
            err(&[key("body_limit")], "must be at most 16 MiB (16777216)".to_owned());
        }
        if raw.sticky_secret.as_ref().is_some_and(|s| s.len() < 16) {
            err(&[key("sticky_secret")], "must be at least 16 bytes".to_owned());
        }
        for (k, v) in [
            ("client_timeout_ms", raw.client_timeout_ms),
            ("idle_timeout_ms", raw.idle_timeout_ms),
            ("connect_timeout_ms", raw.connect_timeout_ms),
            ("read_timeout_ms", raw.read_timeout_ms),
            ("fail_timeout_secs", raw.fail_timeout_secs),
        ] {
            if v == 0 {
                err(&[key(k)], "must be at least 1".to_owned());
            }
        }
        if !(1..=MAX_CONNECTIONS).contains(&raw.max_connections) {
            err(
                &[key("max_connections")],
                format!("must be between 1 and {MAX_CONNECTIONS}"),
            );
        }
        if let Err(e) = raw.store.validate() {
            err(&[key("store")], e.to_string());
        }
        if raw.lookup.timeout_ms == 0 || raw.lookup.max_entries == 0 || raw.lookup.max_bytes == 0 {
            err(
                &[key("lookup")],
                "`timeout_ms`, `max_entries` and `max_bytes` must be positive".to_owned(),
            );
        }
        if raw.admin.enabled && !raw.admin.is_loopback() && raw.admin.token.is_none() && raw.admin.token_file.is_none()
        {
            // The variable may still hold it; `serve` checks again after reading it.
            if std::env::var(TOKEN_ENV).is_err() {
                err(
                    &[key("admin"), key("listen")],
                    format!(
                        "{} is not loopback: set `token_file` (or `token`, or {TOKEN_ENV})",
                        raw.admin.listen
                    ),
                );
            }
        }
        for (k, m) in raw.alerts.problems() {
            err(&[key("alerts"), key(k)], m);
        }
        if raw.store.dir.is_none() {
            raw.store.dir = Some(raw.data_dir.join("store"));
        }
        if !errors.is_empty() {
            return Err(PolicyError { errors });
        }
        Ok(Settings {
            trusted,
            group_header,
            version_header,
            tag_header,
            no_route_status,
            client_timeout: Duration::from_millis(raw.client_timeout_ms),
            idle_timeout: Duration::from_millis(raw.idle_timeout_ms),
            raw,
        })
    }
}

#[cfg(test)]
mod tests;
