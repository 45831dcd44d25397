//! The one typed configuration, loaded once: built-in defaults, then a TOML file, then
//! `UNMOGROWP_*` environment variables (nested sections with `__`, e.g.
//! `UNMOGROWP_HTTP__REQUEST_TIMEOUT_MS`), then command-line flags. Unknown keys are refused,
//! naming the key and where it came from. Secrets are `SecretString`s: never printed.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use unmogrowp_ingest::IngestConfig;
pub use unmogrowp_jobs::PostbacksConfig;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerRole {
    /// Every role in one process.
    #[default]
    All,
    /// Management API, reports, dashboard.
    Api,
    /// Collection endpoints (clicks, impressions, events).
    Ingest,
    /// Consumers of the event log: attribution, event store, postbacks.
    Worker,
}

impl ServerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::All => "all",
            ServerRole::Api => "api",
            ServerRole::Ingest => "ingest",
            ServerRole::Worker => "worker",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard output is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    Json,
    Pretty,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Where embedded data lives (SQLite files, the event log, generated keys, the outbox).
    pub data_dir: PathBuf,
    pub role: ServerRole,
    /// The address users reach the server at, used in links sent by email. Defaults to
    /// `http://<addr>`.
    pub public_url: Option<String>,

    /// OLTP database: unset for SQLite in the data dir, or `postgres://USER@HOST:PORT/DB`.
    #[serde(deserialize_with = "optional_secret")]
    pub database_url: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub database_replica_url: Option<SecretString>,
    pub database_max_connections: u32,
    pub database_statement_timeout_ms: u64,
    /// PostgreSQL role the server switches to after connecting (owns no table, so row-level
    /// security binds it). Empty to stay the login role.
    pub database_app_role: String,

    /// Event store: unset for embedded, or `clickhouse://HOST:HTTP_PORT/DATABASE`.
    #[serde(deserialize_with = "optional_secret")]
    pub events_url: Option<SecretString>,
    #[serde(deserialize_with = "optional_secret")]
    pub nats_url: Option<SecretString>,
    pub nats_prefix: String,
    /// How long JetStream remembers message ids to drop a re-sent event at once (seconds,
    /// default 600). Past it, a re-sent id still counts once: the event store drops it.
    pub nats_duplicate_window_seconds: u64,
    #[serde(deserialize_with = "optional_secret")]
    pub redis_url: Option<SecretString>,
    pub redis_prefix: String,
    /// `smtp://HOST:PORT`; unset writes emails as files under `<data_dir>/outbox/`.
    #[serde(deserialize_with = "optional_secret")]
    pub smtp_url: Option<SecretString>,
    pub smtp_from: String,

    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,unmogrowp_server=debug`.
    pub log_level: String,

    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub ingest: IngestConfig,
    pub events: EventsConfig,
    pub postbacks: PostbacksConfig,
    pub pipeline: PipelineConfig,
}

/// How the workers share the event log (cluster tier: `nats_url` set; the embedded log has
/// one partition and one worker).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Partitions the NATS log is split into (1 to 256, default 64). Apps are hashed to
    /// partitions, so the count is fixed for the life of a log: a node configured with
    /// another count than the stream's refuses to start.
    pub partitions: u16,
    /// Worker processes sharing the partitions (default 1). Worker `i` of N decides the
    /// partitions whose number modulo N is `i`.
    pub workers: u16,
    /// This worker's number, 0 to `workers - 1`. Unset: read from the host name's last
    /// `-<number>` (a Kubernetes StatefulSet's `unmogrowp-worker-2` is 2), or 0 with one worker.
    pub worker_ordinal: Option<u16>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self { partitions: 64, workers: 1, worker_ordinal: None }
    }
}

impl PipelineConfig {
    /// This worker's ordinal: configured, or from `host_name`'s trailing `-<number>`, or 0
    /// with one worker. Errors name the setting to fix.
    pub fn ordinal(&self, host_name: Option<&str>) -> anyhow::Result<u16> {
        let workers = self.workers.max(1);
        let ordinal = match self.worker_ordinal {
            Some(ordinal) => ordinal,
            None if workers == 1 => 0,
            None => host_name
                .and_then(|name| name.rsplit_once('-'))
                .and_then(|(_, number)| number.parse().ok())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "pipeline.worker_ordinal is not set and the host name {:?} does not end \
                         in -<number>: set UNMOGROWP_PIPELINE__WORKER_ORDINAL (0 to {})",
                        host_name.unwrap_or_default(),
                        workers - 1
                    )
                })?,
        };
        anyhow::ensure!(
            ordinal < workers,
            "pipeline.worker_ordinal is {ordinal}, but pipeline.workers is {workers}: \
             worker numbers run from 0 to {}",
            workers - 1
        );
        anyhow::ensure!(
            (1..=unmogrowp_domain::hash::MAX_PARTITIONS).contains(&self.partitions),
            "pipeline.partitions is {}; it must be 1 to {}",
            self.partitions,
            unmogrowp_domain::hash::MAX_PARTITIONS
        );
        anyhow::ensure!(
            workers <= self.partitions,
            "pipeline.workers ({workers}) is more than pipeline.partitions ({}): some workers \
             would have nothing to do",
            self.partitions
        );
        Ok(ordinal)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Raw events older than this are dropped (whole days); rollups stay.
    pub retention_days: u32,
    /// The event log keeps what every worker has processed for this long (at least the
    /// dedup window).
    pub log_retention_hours: u32,
    /// Records a worker takes from the log at once (the most it stores per transaction on
    /// the embedded store). Under a burst, large batches amortize each transaction's fixed
    /// work: 20 000 stored ~1.4× as many events per second as 5 000 (BENCHMARKS.md); a
    /// batch is whatever arrived, so small loads still go through at once.
    pub batch_size: usize,
    /// With ClickHouse (`events_url`): rows per insert, gathered for up to
    /// `clickhouse_flush_ms`, whichever comes first.
    pub clickhouse_batch_rows: usize,
    pub clickhouse_flush_ms: u64,
    /// Units of each currency per US dollar, overriding the built-in reference rates.
    pub currency_rates: std::collections::HashMap<String, f64>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention_days: 400,
            log_retention_hours: 192,
            batch_size: 20_000,
            clickhouse_batch_rows: 50_000,
            clickhouse_flush_ms: 1_000,
            currency_rates: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The master key (base64 or hex, at least 32 bytes) from which token-signing and S2S
    /// key secrets are derived. Unset: generated once and kept in `<data_dir>/secret.key`.
    /// Several nodes sharing one database must share this key.
    #[serde(deserialize_with = "optional_secret")]
    pub secret_key: Option<SecretString>,
    pub access_token_ttl_seconds: u64,
    pub session_ttl_hours: u64,
    pub remember_me_ttl_days: u64,
    pub password_reset_ttl_minutes: u64,
    pub invitation_ttl_days: u64,
    /// Failed logins of one account before it must wait (429 with Retry-After).
    pub lockout_account_threshold: u32,
    /// Failed logins from one IP before it must wait.
    pub lockout_ip_threshold: u32,
    /// The first wait; it doubles with every further failure, up to the maximum.
    pub lockout_base_delay_seconds: u64,
    pub lockout_max_delay_seconds: u64,
    /// Failures older than this are forgotten.
    pub lockout_window_seconds: u64,
    /// Password hashes computed at once (0: one per CPU).
    pub hash_concurrency: usize,
    /// Hash requests allowed to wait for a slot before the server answers 503.
    pub hash_queue: usize,
    /// How long a session or membership check is cached (revocations on this node are
    /// immediate; this bounds how long another node may take to notice).
    pub cache_ttl_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret_key: None,
            access_token_ttl_seconds: 900,
            session_ttl_hours: 24,
            remember_me_ttl_days: 30,
            password_reset_ttl_minutes: 15,
            invitation_ttl_days: 7,
            lockout_account_threshold: 10,
            lockout_ip_threshold: 50,
            lockout_base_delay_seconds: 1,
            lockout_max_delay_seconds: 900,
            lockout_window_seconds: 3600,
            hash_concurrency: 0,
            hash_queue: 64,
            cache_ttl_seconds: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Longest time a request may take before it is answered 503.
    pub request_timeout_ms: u64,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Origins allowed to call the API from a browser (`*` for any); empty sends no CORS
    /// headers, so only same-origin pages can call.
    pub cors_allowed_origins: Vec<String>,
    /// Set when a TLS-terminating proxy is in front: adds `Strict-Transport-Security`.
    pub behind_tls: bool,
    /// Proxies (IP or CIDR) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// How long in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            role: ServerRole::All,
            public_url: None,
            database_url: None,
            database_replica_url: None,
            database_max_connections: 16,
            database_statement_timeout_ms: 10_000,
            database_app_role: "unmogrowp_app".to_owned(),
            events_url: None,
            nats_url: None,
            nats_prefix: "unmogrowp".to_owned(),
            nats_duplicate_window_seconds: 600,
            redis_url: None,
            redis_prefix: "unmogrowp".to_owned(),
            smtp_url: None,
            smtp_from: "UnMoGrowP <no-reply@unmogrowp.localhost>".to_owned(),
            log_format: LogFormat::Auto,
            log_level: "info".to_owned(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            ingest: IngestConfig::default(),
            events: EventsConfig::default(),
            postbacks: PostbacksConfig::default(),
            pipeline: PipelineConfig::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: 30_000,
            max_body_bytes: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            behind_tls: false,
            trusted_proxies: Vec::new(),
            shutdown_grace_ms: 8_000,
        }
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub addr: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub role: Option<ServerRole>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

pub const ENV_PREFIX: &str = "UNMOGROWP_";

impl Config {
    /// Defaults, then `file` (if given), then the process environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed(ENV_PREFIX).split("__"), overrides)
    }

    fn load_from(
        file: Option<&Path>,
        env: Env,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut config: Config =
            figment.merge(env).extract().map_err(|error| ConfigError::Invalid(describe(error)))?;
        if let Some(addr) = overrides.addr {
            config.addr = addr;
        }
        if let Some(data_dir) = &overrides.data_dir {
            config.data_dir.clone_from(data_dir);
        }
        if let Some(role) = overrides.role {
            config.role = role;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.http.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid("http.max_body_bytes must be at least 1024".into()));
        }
        if self.http.request_timeout_ms == 0 {
            return Err(ConfigError::Invalid("http.request_timeout_ms must be positive".into()));
        }
        if let Some(url) = &self.public_url
            && url::Url::parse(url).is_err()
        {
            return Err(ConfigError::Invalid(format!("public_url `{url}` is not a URL")));
        }
        if self.auth.access_token_ttl_seconds == 0 || self.auth.session_ttl_hours == 0 {
            return Err(ConfigError::Invalid("auth token lifetimes must be positive".into()));
        }
        if self.auth.lockout_account_threshold == 0 || self.auth.lockout_ip_threshold == 0 {
            return Err(ConfigError::Invalid("auth.lockout_*_threshold must be positive".into()));
        }
        for proxy in &self.http.trusted_proxies {
            crate::net::IpNet::parse(proxy).map_err(|message| {
                ConfigError::Invalid(format!("http.trusted_proxies: `{proxy}`: {message}"))
            })?;
        }
        Ok(())
    }

    /// The address links in emails point at.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_ref().map(ExposeSecret::expose_secret).filter(|url| !url.is_empty())
    }
}

/// Figment's messages name the key and its source; keep them on one line.
fn describe(error: figment::Error) -> String {
    error.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

/// Environment values are parsed as TOML-ish values, so a secret made of digits arrives as a
/// number; accept any scalar and keep its text.
fn optional_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Bool(bool),
    }
    let value = Option::<Scalar>::deserialize(deserializer)?;
    Ok(value.map(|scalar| {
        let text = match scalar {
            Scalar::Text(text) => text,
            Scalar::Integer(number) => number.to_string(),
            Scalar::Float(number) => number.to_string(),
            Scalar::Bool(flag) => flag.to_string(),
        };
        SecretString::from(text)
    }))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own large error type
#[path = "config_tests.rs"]
mod tests;
