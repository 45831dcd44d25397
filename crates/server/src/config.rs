//! The one typed configuration, loaded once: built-in defaults, then a TOML file, then
//! `UNMOGROWP_*` environment variables (nested sections with `__`, e.g.
//! `UNMOGROWP_HTTP__REQUEST_TIMEOUT_MS`), then command-line flags. Unknown keys are refused,
//! naming the key and where it came from. Secrets are `SecretString`s: never printed.

pub use crate::security_config::SecurityConfig;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
pub use unmogrowp_auth::AuthConfig;
use unmogrowp_auth::optional_secret;
pub use unmogrowp_ingest::IngestConfig;
pub use unmogrowp_jobs::PostbacksConfig;

/// Which part of the system this process runs (`role` / `UNMOGROWP_ROLE`, or `--role`; default
/// `all`). Roles other than `all` need `database_url`, `events_url` and `nats_url`, as their data
/// is shared with other nodes.
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
    /// The role's name as configured: `all`, `api`, `ingest` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::All => "all",
            ServerRole::Api => "api",
            ServerRole::Ingest => "ingest",
            ServerRole::Worker => "worker",
        }
    }
}

/// How log lines are written (`log_format` / `UNMOGROWP_LOG_FORMAT`; default `auto`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard output is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Compact human-readable lines.
    Pretty,
}

/// The server's whole configuration. A top-level key is `key = …` in the TOML file or
/// `UNMOGROWP_KEY` in the environment; a key of a section is `[section] key = …` or
/// `UNMOGROWP_SECTION__KEY`. Every key has a default and unknown keys are refused. Backend URLs and
/// the master key are secrets, never printed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub addr: SocketAddr,
    /// Where embedded data lives (SQLite files, the event log, generated keys, the outbox).
    pub data_dir: PathBuf,
    /// What this process runs (`role` / `UNMOGROWP_ROLE`, or `--role`): `all` (default), `api`,
    /// `ingest` or `worker`.
    pub role: ServerRole,
    /// The address users reach the server at, used in links sent by email. Defaults to
    /// `http://<addr>`.
    pub public_url: Option<String>,

    /// OLTP database: unset for SQLite in the data dir, or `postgres://USER@HOST:PORT/DB`.
    #[serde(deserialize_with = "optional_secret")]
    pub database_url: Option<SecretString>,
    /// A PostgreSQL read replica for queries that tolerate a little lag (`database_replica_url` /
    /// `UNMOGROWP_DATABASE_REPLICA_URL`); unset or empty for none. Not used with SQLite.
    #[serde(deserialize_with = "optional_secret")]
    pub database_replica_url: Option<SecretString>,
    /// Size of each connection pool (`database_max_connections` /
    /// `UNMOGROWP_DATABASE_MAX_CONNECTIONS`, default 16; 0 counts as 1): PostgreSQL's primary and
    /// replica pools, or SQLite's reader pool (SQLite writes through one connection).
    pub database_max_connections: u32,
    /// PostgreSQL `statement_timeout` in milliseconds (`database_statement_timeout_ms` /
    /// `UNMOGROWP_DATABASE_STATEMENT_TIMEOUT_MS`, default 10 000; 0 for none). Not used by SQLite
    /// nor while migrating.
    pub database_statement_timeout_ms: u64,
    /// PostgreSQL role the server switches to after connecting (owns no table, so row-level
    /// security binds it). Empty to stay the login role.
    pub database_app_role: String,

    /// Event store: unset for embedded, or `clickhouse://HOST:HTTP_PORT/DATABASE`.
    #[serde(deserialize_with = "optional_secret")]
    pub events_url: Option<SecretString>,
    /// A NATS server with JetStream holding the shared event log, `nats://HOST:PORT` (`nats_url` /
    /// `UNMOGROWP_NATS_URL`). Unset: the file log in `<data_dir>/log`, for one node.
    #[serde(deserialize_with = "optional_secret")]
    pub nats_url: Option<SecretString>,
    /// Names the JetStream streams (`<PREFIX>_EVENTS`, `<PREFIX>_OFFSETS`) and subjects
    /// (`nats_prefix` / `UNMOGROWP_NATS_PREFIX`, default `unmogrowp`), so deployments can share a
    /// NATS server.
    pub nats_prefix: String,
    /// How long JetStream remembers message ids to drop a re-sent event at once (seconds,
    /// default 600). Past it, a re-sent id still counts once: the event store drops it.
    pub nats_duplicate_window_seconds: u64,
    /// Redis (5 or newer), `redis://HOST:PORT/DB` (`redis_url` / `UNMOGROWP_REDIS_URL`): rate
    /// limits, login throttling, the shared report cache and cache invalidations for every node.
    /// Unset: each node keeps its own.
    #[serde(deserialize_with = "optional_secret")]
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key and of the invalidation channel, as `<prefix>:…` (`redis_prefix` /
    /// `UNMOGROWP_REDIS_PREFIX`, default `unmogrowp`).
    pub redis_prefix: String,
    /// `smtp://HOST:PORT`; unset writes emails as files under `<data_dir>/outbox/`.
    #[serde(deserialize_with = "optional_secret")]
    pub smtp_url: Option<SecretString>,
    /// Sender of outgoing emails, a mailbox such as `Name <address@example.com>` (`smtp_from` /
    /// `UNMOGROWP_SMTP_FROM`, default `UnMoGrowP <no-reply@unmogrowp.localhost>`); one that does
    /// not parse stops start-up.
    pub smtp_from: String,

    /// JSON or human-readable logs (`log_format` / `UNMOGROWP_LOG_FORMAT`): `auto` (default),
    /// `json` or `pretty`.
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,unmogrowp_server=debug`.
    pub log_level: String,

    /// The `[http]` section (`UNMOGROWP_HTTP__*`): timeouts, body size, CORS, TLS, proxies.
    pub http: HttpConfig,
    /// The `[auth]` section (`UNMOGROWP_AUTH__*`): master key, lifetimes, login throttling,
    /// password hashing.
    pub auth: AuthConfig,
    /// The `[ingest]` section (`UNMOGROWP_INGEST__*`): limits and quotas of collection.
    pub ingest: IngestConfig,
    /// The `[events]` section (`UNMOGROWP_EVENTS__*`): retention, batching, currency rates.
    pub events: EventsConfig,
    /// The `[postbacks]` section (`UNMOGROWP_POSTBACKS__*`): attempts, timeouts and circuit
    /// breakers of postback delivery.
    pub postbacks: PostbacksConfig,
    /// The `[pipeline]` section (`UNMOGROWP_PIPELINE__*`): partitions and workers of the shared
    /// event log.
    pub pipeline: PipelineConfig,
    /// The `[security]` section (`UNMOGROWP_SECURITY__*`).
    pub security: SecurityConfig,
    /// The `[limits]` section (`UNMOGROWP_LIMITS__*`): request rate limits per client address.
    pub limits: LimitsConfig,
    /// The `[observability]` section (`UNMOGROWP_OBSERVABILITY__*`).
    pub observability: ObservabilityConfig,
    /// The `[otel]` section (`UNMOGROWP_OTEL__*`): traces over OTLP (off by default).
    pub otel: crate::otel::OtelConfig,
    /// The `[encryption]` section (`UNMOGROWP_ENCRYPTION__*`): the master key ring.
    pub encryption: crate::encryption::EncryptionConfig,
}

/// What the server reports about itself beyond `/metrics`' defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObservabilityConfig {
    /// OLTP statements and event-store queries slower than this many milliseconds are logged
    /// (warning, with kind, duration, rows and app) and counted in `slow_queries_total`
    /// (`observability.slow_query_ms`, default 100).
    pub slow_query_ms: u64,
    /// Per-organization metrics label this many of the busiest organizations by id and fold
    /// the rest into `other` (`observability.tenant_metrics_top_n`, default 20).
    pub tenant_metrics_top_n: usize,
}

impl Default for ObservabilityConfig {
    fn default() -> Self {
        Self { slow_query_ms: 100, tenant_metrics_top_n: 20 }
    }
}

/// Request rate limits per client address (an IPv4 address, or an IPv6 /64), shared by every
/// node through Redis when `redis_url` is set. Each is a burst and a sustained rate per minute;
/// past it the answer is 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sign-ins per minute per address (`limits.login_per_minute`, default 30).
    pub login_per_minute: u32,
    /// Sign-ins at once per address (`limits.login_burst`, default 60).
    pub login_burst: u32,
    /// Registrations, forgotten and reset passwords and invitation acceptances per minute per
    /// address (`limits.auth_per_minute`, default 10).
    pub auth_per_minute: u32,
    /// Those at once per address (`limits.auth_burst`, default 20).
    pub auth_burst: u32,
    /// Email availability checks per minute per address (`limits.check_email_per_minute`,
    /// default 20).
    pub check_email_per_minute: u32,
    /// Those at once per address (`limits.check_email_burst`, default 20).
    pub check_email_burst: u32,
    /// Management API requests per minute per signed-in user (`limits.api_per_minute`,
    /// default 600).
    pub api_per_minute: u32,
    /// Those at once per user (`limits.api_burst`, default 300): a dashboard page load is a
    /// handful of requests.
    pub api_burst: u32,
    /// Clicks and impressions per minute per tracking link and client address
    /// (`limits.touch_per_minute`, default 60). A person taps an ad a few times at most;
    /// hundreds of clicks on one link from one address are a click flood.
    pub touch_per_minute: u32,
    /// Those at once per link and address (`limits.touch_burst`, default 30).
    pub touch_burst: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            login_per_minute: 30,
            login_burst: 60,
            auth_per_minute: 10,
            auth_burst: 20,
            check_email_per_minute: 20,
            check_email_burst: 20,
            api_per_minute: 600,
            api_burst: 300,
            touch_per_minute: 60,
            touch_burst: 30,
        }
    }
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

/// The `[events]` section: how long events are kept and how workers batch them into the event
/// store.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Raw events older than this are dropped (whole days); rollups stay.
    pub retention_days: u32,
    /// How often the workers enforce both retentions, whatever the load
    /// (`events.retention_check_seconds`, default 600).
    pub retention_check_seconds: u64,
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
    /// With ClickHouse: the longest a worker gathers rows before inserting what it has, in
    /// milliseconds (`events.clickhouse_flush_ms` / `UNMOGROWP_EVENTS__CLICKHOUSE_FLUSH_MS`,
    /// default 1000).
    pub clickhouse_flush_ms: u64,
    /// Units of each currency per US dollar, overriding the built-in reference rates.
    pub currency_rates: std::collections::HashMap<String, f64>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention_days: 400,
            retention_check_seconds: 600,
            log_retention_hours: 192,
            batch_size: 20_000,
            clickhouse_batch_rows: 50_000,
            clickhouse_flush_ms: 1_000,
            currency_rates: Default::default(),
        }
    }
}

/// The `[http]` section: timeouts, body size, CORS, TLS and proxy settings.
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
    /// Time a client gets to send a request's headers once the server waits for them, which
    /// is also the idle time allowed between requests on a kept-alive connection
    /// (`http.header_read_timeout_ms`, default 10 000): slow or silent clients are closed.
    pub header_read_timeout_ms: u64,
    /// Open connections allowed in total (`http.max_connections`, default 10 000); beyond,
    /// new connections are closed at once.
    pub max_connections: usize,
    /// Open connections allowed from one client address (`http.max_connections_per_ip`,
    /// default 256; trusted proxies exempt); beyond, new connections are closed at once.
    pub max_connections_per_ip: usize,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`
    /// (compared in constant time); others get 401 (`http.metrics_token` /
    /// `UNMOGROWP_HTTP__METRICS_TOKEN`). Unset: `/metrics` is open, for a scraper on a
    /// private network.
    #[serde(deserialize_with = "optional_secret")]
    pub metrics_token: Option<SecretString>,
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
            security: SecurityConfig::default(),
            limits: LimitsConfig::default(),
            observability: ObservabilityConfig::default(),
            otel: crate::otel::OtelConfig::default(),
            encryption: crate::encryption::EncryptionConfig::default(),
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
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            metrics_token: None,
        }
    }
}

/// Values given on the command line; they win over file and environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--addr`: the listen address.
    pub addr: Option<SocketAddr>,
    /// `--data-dir`: the data directory.
    pub data_dir: Option<PathBuf>,
    /// `--role`: what this process runs.
    pub role: Option<ServerRole>,
}

/// Why the configuration could not be loaded; the server does not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file given (`--config`) does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// A value does not parse, a key is unknown (the message names it and where it came from, file
    /// or environment), or a setting is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The prefix of configuration environment variables; nested keys are joined with `__`, e.g.
/// `UNMOGROWP_HTTP__BEHIND_TLS` for `http.behind_tls`.
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
        for (name, value) in [
            ("auth.remember_me_ttl_days", self.auth.remember_me_ttl_days),
            ("auth.password_reset_ttl_minutes", self.auth.password_reset_ttl_minutes),
            ("auth.invitation_ttl_days", self.auth.invitation_ttl_days),
            ("auth.lockout_base_delay_seconds", self.auth.lockout_base_delay_seconds),
            ("auth.lockout_window_seconds", self.auth.lockout_window_seconds),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be positive")));
            }
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log_level) {
            return Err(ConfigError::Invalid(format!(
                "log_level `{}` is not a filter such as `info` or `info,unmogrowp_server=debug`: {error}",
                self.log_level
            )));
        }
        if self.auth.lockout_account_threshold == 0 || self.auth.lockout_ip_threshold == 0 {
            return Err(ConfigError::Invalid("auth.lockout_*_threshold must be positive".into()));
        }
        if self.http.metrics_token.as_ref().is_some_and(|token| token.expose_secret().len() < 16) {
            return Err(ConfigError::Invalid(
                "http.metrics_token must be at least 16 characters (unset it to leave /metrics open)"
                    .into(),
            ));
        }
        unmogrowp_jobs::OutboundPolicy::parse(&self.security.outbound_allow_cidrs).map_err(
            |message| ConfigError::Invalid(format!("security.outbound_allow_cidrs: {message}")),
        )?;
        self.otel.validate().map_err(ConfigError::Invalid)?;
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

    /// The OLTP database URL, exposed for connecting (never log it); `None` when unset or empty,
    /// meaning SQLite in the data dir.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_ref().map(ExposeSecret::expose_secret).filter(|url| !url.is_empty())
    }
}

/// Figment's messages name the key and its source; keep them on one line.
fn describe(error: figment::Error) -> String {
    error.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own large error type
#[path = "config_tests.rs"]
mod tests;
