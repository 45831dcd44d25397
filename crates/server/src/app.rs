//! Building the application from a [`Config`] and running it until asked to stop.

use crate::config::Config;
use crate::error::ApiError;
use crate::health::{DatabaseCheck, Readiness};
use crate::middleware::{ObserveSettings, observe};
use crate::openapi::ApiDoc;
pub use crate::roles::role_serves;
use crate::routes::{
    account, annotations, api_tokens, apps, attribution, audit, auth, cohorts, collect, erasures,
    exports, links, live, ops, org, password_reset, postbacks, posthog, reports, segment,
    skadnetwork, skadnetwork_reports,
};
use crate::state::{AppState, AppStateInner};
use crate::{docs, telemetry};
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use unmogrowp_storage::{Store, StoreOptions};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A built application: listening, migrated, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    pipeline: Option<unmogrowp_pipeline::Pipeline>,
}

/// The storage options the configuration selects: PostgreSQL when `database_url` is set and not
/// empty (with `database_replica_url`, when not empty, as a read replica), else SQLite in
/// `data_dir`; the pool size (`database_max_connections`), the PostgreSQL statement timeout, and
/// the role to switch to (`database_app_role`; empty keeps the login role).
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        data_dir: config.data_dir.clone(),
        database_url: config.database_url().map(str::to_owned),
        replica_url: config
            .database_replica_url
            .as_ref()
            .map(|url| url.expose_secret().to_owned())
            .filter(|url| !url.is_empty()),
        max_connections: config.database_max_connections,
        statement_timeout_ms: config.database_statement_timeout_ms,
        slow_statement_ms: config.observability.slow_query_ms,
        app_role: Some(config.database_app_role.clone()).filter(|role| !role.is_empty()),
        master_keys: None,
    }
}

/// [`store_options`] with the master key ring loaded: what opening the store for serving
/// (or an admin command that reads sealed data) needs.
pub fn store_options_with_keys(config: &Config) -> anyhow::Result<StoreOptions> {
    let mut options = store_options(config);
    options.master_keys = Some(config.encryption.master_keys(&config.data_dir)?);
    Ok(options)
}

impl Application {
    /// Binds the listener, opens (and migrates) the store, and assembles the routes.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        // With port 0 the OS picks one; keep the real address so links point at it.
        config.addr = listener.local_addr().context("reading the bound address")?;

        check_shared_urls(&config)?;
        let store = Store::open(&store_options_with_keys(&config)?)
            .await
            .context("opening the database")?;
        let keys = crate::secrets::Keyring::load(config.auth.secret_key.as_ref(), &config.data_dir)
            .context("loading the master key")?;
        let shared = match &config.redis_url {
            Some(url) => crate::shared::Shared::redis(url.expose_secret(), &config.redis_prefix)
                .context("configuring Redis (redis_url)")?,
            None => crate::shared::Shared::local(),
        };
        let auth_service = Arc::new(crate::auth::AuthService::new(&config.auth, keys, &shared));
        let mailer = unmogrowp_jobs::mail::from_settings(
            config.smtp_url.as_ref().map(secrecy::ExposeSecret::expose_secret),
            &config.smtp_from,
            &config.data_dir,
        )
        .context("configuring email")?;
        let trusted_proxies = config
            .http
            .trusted_proxies
            .iter()
            .map(|raw| {
                crate::net::IpNet::parse(raw)
                    .map_err(|message| anyhow::anyhow!("http.trusted_proxies: {message}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut readiness = Readiness::default();
        readiness.register(Arc::new(DatabaseCheck(store.clone())));
        if shared.is_configured() {
            readiness.register(Arc::new(crate::health::RedisCheck(shared.clone())));
        }

        let log = open_log(&config).await?;
        unmogrowp_domain::tenant_label::configure(config.observability.tenant_metrics_top_n);
        let mut events: Arc<dyn unmogrowp_eventstore::EventStore> =
            Arc::new(crate::slow_queries::SlowQueryLog::new(
                open_event_store(&config).await?,
                Duration::from_millis(config.observability.slow_query_ms),
            ));
        if config.encryption.event_store {
            events = Arc::new(unmogrowp_eventstore::SealedEventStore::new(events, store.vault()));
        }
        let runs_pipeline = matches!(
            config.role,
            crate::config::ServerRole::All | crate::config::ServerRole::Worker
        );
        readiness.register(Arc::new(crate::health::EventLogCheck(log.clone())));
        readiness.register(Arc::new(crate::health::EventStoreCheck(events.clone())));
        let pipeline = unmogrowp_pipeline::Pipeline::new(
            log.clone(),
            events.clone(),
            store.clone(),
            pipeline_options(&config, log.as_ref(), events.as_ref(), runs_pipeline)?,
        )
        .await
        .context("starting the pipeline")?;
        let pipeline_handle = pipeline.handle();
        let ingest = Arc::new(
            crate::ingest::Ingest::new(
                log.clone(),
                pipeline_handle.clone(),
                store.clone(),
                config.ingest.clone(),
                shared.clone(),
            )
            .await
            .context("starting ingestion")?,
        );

        let (api_routes, openapi) = api_routes();
        let openapi_json = Arc::new(openapi.to_pretty_json().context("rendering OpenAPI")?);

        let limits = Arc::new(crate::limits::Limits::new(&shared, &config.limits));
        let graphql_rest = crate::graphql::Rest::default();
        let state = AppState::new(AppStateInner {
            config,
            store,
            auth: auth_service,
            log,
            events,
            pipeline: pipeline_handle,
            ingest,
            mailer,
            trusted_proxies,
            readiness,
            shared: shared.clone(),
            limits,
            report_cache: report_cache(),
            prometheus: telemetry::prometheus(),
            openapi_json,
            collab: crate::collab::Collab::new(),
            graphql: crate::graphql::schema(graphql_rest.clone()),
            graphql_rest,
        });
        if shared.is_configured() {
            let listener_state = state.clone();
            tokio::spawn(shared.listen(move |invalidation| {
                let state = listener_state.clone();
                async move { state.apply_invalidation(invalidation).await }
            }));
        }
        let router = api_routes
            .route("/", get(crate::dashboard::index))
            .route("/api/docs", get(docs::index))
            .route("/api/docs/", get(docs::index))
            .route("/api/docs/{*file}", get(docs::asset))
            .fallback(crate::dashboard::fallback)
            .with_state(state.clone());
        state.graphql_rest.install(router.clone());
        let router = match state.config.role {
            crate::config::ServerRole::All => router,
            role => router
                .layer(axum::middleware::from_fn_with_state(role, crate::roles::serve_role_paths)),
        };
        let router = with_middleware(router, &state.config)?;
        Ok(Self { listener, router, state, pipeline: runs_pipeline.then_some(pipeline) })
    }

    /// The address the server listens on: with port 0 in `addr`, the port the OS picked.
    pub fn local_addr(&self) -> SocketAddr {
        self.state.config.addr
    }

    /// The server's base URL, `http://<local_addr>` (plain HTTP: TLS, if any, is terminated by a
    /// proxy in front).
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// The state the handlers share (configuration, stores, services, caches).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes; then stops accepting, lets in-flight requests finish
    /// (up to `http.shutdown_grace_ms`), flushes and returns.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let grace = Duration::from_millis(self.state.config.http.shutdown_grace_ms);
        let (stop_sender, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        });
        crate::serve::raise_open_file_limit();
        let http = &self.state.config.http;
        let settings = crate::serve::ServeSettings {
            header_read_timeout: Duration::from_millis(http.header_read_timeout_ms.max(100)),
            max_connections: http.max_connections.max(1),
            max_connections_per_ip: http.max_connections_per_ip.max(1),
            trusted_proxies: self.state.trusted_proxies.clone(),
        };
        let serve = crate::serve::serve(self.listener, self.router, settings, stop.clone());
        let (pipeline_stop, pipeline_stopped) = tokio::sync::watch::channel(false);
        let sender_task = match &self.pipeline {
            Some(_) => {
                let sender = Arc::new(unmogrowp_jobs::PostbackSender::new(
                    self.state.store.clone(),
                    self.state.config.postbacks.clone(),
                    self.state.config.security.outbound_policy(),
                )?);
                Some(tokio::spawn(sender.run(pipeline_stopped.clone())))
            }
            None => None,
        };
        // On a shared log every node (workers too: each stores only its partitions) follows
        // the workers' progress through the log, for lag, backpressure and read-your-writes
        // waits; without one, a node without the pipeline follows what the worker committed.
        let follows = self.pipeline.is_none() || self.state.log.relays_live();
        let follower = follows.then(|| {
            let log = self.state.log.clone();
            let handle = self.state.pipeline.clone();
            let workers = self.state.config.pipeline.workers.max(1);
            tokio::spawn(async move {
                loop {
                    if let Ok(committed) =
                        log.watermark(unmogrowp_pipeline::CONSUMER, workers).await
                    {
                        handle.follow(committed);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        });
        // On a shared log, WebSocket clients of every node serving the live feed hear what
        // any worker stores through the log's relay (ingest and worker nodes serve no live
        // feed and skip it; a worker's own records come back the same way).
        let relays =
            self.state.log.relays_live() && role_serves(self.state.config.role, "/api/v1/live");
        let live_relay = relays.then(|| tokio::spawn(self.state.pipeline.clone().relay_live()));
        // Presence and annotation announcements cross between the nodes the same way.
        let collab_relay = relays.then(|| {
            let state = self.state.clone();
            tokio::spawn(async move { state.collab.relay(state.log.clone()).await })
        });
        let pipeline_task =
            self.pipeline.map(|pipeline| tokio::spawn(pipeline.run(pipeline_stopped)));
        let mut deadline = stop;
        let deadline = async move {
            let _ = deadline.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            served = serve => served.context("serving HTTP")?,
            () = deadline => tracing::warn!(grace_ms = grace.as_millis() as u64,
                "in-flight requests did not finish in time; closing them"),
        }
        // Flush: the pipeline finishes its batch, the log writer drains, the stores close.
        pipeline_stop.send_replace(true);
        if let Some(task) = pipeline_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(task) = follower {
            task.abort();
        }
        for task in [live_relay, collab_relay].into_iter().flatten() {
            task.abort();
        }
        if let Some(task) = sender_task {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.state.log.close().await;
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Roles other than `all` share their data with other nodes: the three shared URLs must be set.
fn check_shared_urls(config: &Config) -> anyhow::Result<()> {
    if config.role != crate::config::ServerRole::All {
        // An empty URL is no URL (the database falls back to SQLite without one).
        let unset = |url: &Option<secrecy::SecretString>| {
            url.as_ref().is_none_or(|url| url.expose_secret().trim().is_empty())
        };
        let missing: Vec<&str> = [
            ("database_url", unset(&config.database_url)),
            ("events_url", unset(&config.events_url)),
            ("nats_url", unset(&config.nats_url)),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect();
        anyhow::ensure!(
            missing.is_empty(),
            "--role {:?} shares its data with other nodes: set {} (only --role all runs on the embedded tier)",
            config.role,
            missing.join(", ")
        );
    }
    Ok(())
}

/// The event log: NATS JetStream with `nats_url`, else the file log in the data dir.
async fn open_log(config: &Config) -> anyhow::Result<Arc<dyn unmogrowp_bus::EventLog>> {
    let log_options = unmogrowp_bus::FileLogOptions {
        queue_capacity: config.ingest.queue_capacity,
        ..unmogrowp_bus::FileLogOptions::new(config.data_dir.join("log"))
    };
    Ok(match &config.nats_url {
        Some(url) => Arc::new(
            unmogrowp_bus::NatsLog::connect(unmogrowp_bus::NatsLogOptions {
                duplicate_window: Duration::from_secs(config.nats_duplicate_window_seconds.max(1)),
                partitions: config.pipeline.partitions,
                ..unmogrowp_bus::NatsLogOptions::new(url.expose_secret(), &config.nats_prefix)
            })
            .await
            .context("connecting to the event log (nats_url)")?,
        ),
        None => {
            Arc::new(unmogrowp_bus::FileLog::open(log_options).context("opening the event log")?)
        }
    })
}

/// The event store: ClickHouse with `events_url`, else SQLite in the data dir.
async fn open_event_store(
    config: &Config,
) -> anyhow::Result<Arc<dyn unmogrowp_eventstore::EventStore>> {
    Ok(match &config.events_url {
        Some(url) => Arc::new(
            unmogrowp_eventstore::ClickHouseEventStore::connect(url.expose_secret())
                .await
                .context("connecting to the event store (events_url)")?,
        ),
        None => Arc::new(
            unmogrowp_eventstore::SqliteEventStore::open(&config.data_dir)
                .await
                .context("opening the event store")?,
        ),
    })
}

/// What the pipeline runs with: batch sizes for the event store's kind, retention, rates,
/// and — on a node that runs it — the partitions this worker decides.
fn pipeline_options(
    config: &Config,
    log: &dyn unmogrowp_bus::EventLog,
    events: &dyn unmogrowp_eventstore::EventStore,
    runs_pipeline: bool,
) -> anyhow::Result<unmogrowp_pipeline::PipelineOptions> {
    // The partitions this worker decides (the embedded log has one; other roles none).
    let mut worker_ordinal = 0;
    let partitions = if runs_pipeline {
        let ordinal = config
            .pipeline
            .ordinal(std::env::var("HOSTNAME").ok().as_deref())
            .context("choosing this worker's partitions")?;
        worker_ordinal = ordinal;
        let owned = unmogrowp_pipeline::owned_partitions(
            log.partitions(),
            config.pipeline.workers,
            ordinal,
        );
        tracing::info!(
            ordinal,
            workers = config.pipeline.workers,
            partitions = log.partitions(),
            owned = ?owned,
            "this worker's partitions of the event log"
        );
        Some(owned)
    } else {
        Some(Vec::new())
    };
    let (batch_size, min_batch, batch_linger) = if events.kind() == "clickhouse" {
        let rows = config.events.clickhouse_batch_rows.clamp(1, 100_000);
        (rows, rows, Duration::from_millis(config.events.clickhouse_flush_ms))
    } else {
        (config.events.batch_size.max(1), 1, Duration::ZERO)
    };
    Ok(unmogrowp_pipeline::PipelineOptions {
        batch_size,
        min_batch,
        batch_linger,
        log_retention: Duration::from_secs(u64::from(config.events.log_retention_hours) * 3600),
        events_retention_days: config.events.retention_days,
        retention_every: Duration::from_secs(config.events.retention_check_seconds.max(1)),
        rates: unmogrowp_domain::money::Rates::with_overrides(&config.events.currency_rates),
        snapshot_path: Some(config.data_dir.join("attribution.snapshot")),
        max_event_age: Duration::from_secs(u64::from(config.ingest.max_event_age_days) * 86_400),
        partitions,
        worker_ordinal,
        workers: config.pipeline.workers.max(1),
    })
}

/// Every API route with its OpenAPI entry (registered together, so neither goes without the
/// other).
fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let parts = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::check_email))
        .routes(routes!(password_reset::forgot_password))
        .routes(routes!(password_reset::reset_password))
        .routes(routes!(auth::accept_invitation))
        .routes(routes!(org::me, account::update_me))
        .routes(routes!(account::change_password))
        .routes(routes!(account::create_organization))
        .routes(routes!(org::members))
        .routes(routes!(org::update_member, org::remove_member))
        .routes(routes!(org::invite, org::invitations))
        .routes(routes!(audit::audit_log))
        .routes(routes!(apps::create_app, apps::list_apps))
        .routes(routes!(apps::get_app, apps::update_app, apps::delete_app))
        .routes(routes!(apps::create_key, apps::list_keys))
        .routes(routes!(apps::revoke_key))
        .routes(routes!(links::create_link, links::list_links))
        .routes(routes!(links::update_link, links::delete_link))
        .routes(routes!(reports::summary))
        .routes(routes!(reports::rejected_events))
        .routes(routes!(attribution::install))
        .routes(routes!(reports::fraud))
        .routes(routes!(cohorts::cohorts))
        .routes(routes!(attribution::sdk_attribution))
        .routes(routes!(org::blocked_ips, org::set_blocked_ips))
        .routes(routes!(api_tokens::create_api_token, api_tokens::list_api_tokens))
        .routes(routes!(api_tokens::revoke_api_token))
        .routes(routes!(postbacks::create_postback, postbacks::list_postbacks))
        .routes(routes!(postbacks::deliveries))
        .routes(routes!(postbacks::update_postback, postbacks::delete_postback))
        .routes(routes!(postbacks::retry_delivery))
        .routes(routes!(exports::export))
        .routes(routes!(annotations::list_annotations, annotations::create_annotation))
        .routes(routes!(annotations::delete_annotation))
        .routes(routes!(erasures::create_erasure))
        .routes(routes!(erasures::get_erasure))
        .routes(routes!(live::live))
        .routes(routes!(collect::sdk_events))
        .routes(routes!(collect::opt_out))
        .routes(routes!(collect::s2s_events))
        .routes(routes!(segment::batch))
        .routes(routes!(posthog::batch))
        .routes(routes!(posthog::capture))
        .routes(routes!(posthog::e))
        .routes(routes!(posthog::i_v0_e))
        .routes(routes!(segment::track))
        .routes(routes!(segment::identify))
        .routes(routes!(segment::page))
        .routes(routes!(segment::screen))
        .routes(routes!(segment::alias))
        .routes(routes!(segment::group))
        .routes(routes!(skadnetwork::receive_postback))
        .routes(routes!(skadnetwork::sdk_schema))
        .routes(routes!(skadnetwork::get_schema, skadnetwork::put_schema))
        .routes(routes!(skadnetwork_reports::report))
        .routes(routes!(crate::graphql::execute, crate::graphql::graphiql))
        .routes(routes!(crate::graphql::schema_sdl))
        .routes(routes!(collect::click))
        .routes(routes!(collect::impression))
        .split_for_parts();
    let (router, mut openapi) = parts;
    let router = router.merge(posthog::slash_routes());
    crate::openapi::complete_responses(&mut openapi);
    (router, openapi)
}

/// Reports computed on this node, by key (64 MiB, 20 s).
fn report_cache() -> moka::future::Cache<String, bytes::Bytes> {
    moka::future::Cache::builder()
        .max_capacity(64 * 1024 * 1024)
        .weigher(|key: &String, value: &bytes::Bytes| {
            u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
        })
        .time_to_live(Duration::from_secs(20))
        .build()
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(anyhow::anyhow!("a handler panicked")).into_response()
}

fn cors_layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin.trim_end_matches('/'))
                    .with_context(|| format!("http.cors_allowed_origins: `{origin}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::HeaderName::from_static("x-org-id"),
                header::HeaderName::from_static("x-app-token"),
                header::HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600)),
    ))
}

/// Wraps `router` in the standard layers, outermost first: request id, access log, metrics,
/// security headers and problem bodies for bare error statuses; a panic catcher (500 problem
/// document); CORS when `http.cors_allowed_origins` is not empty; response compression; the
/// `http.request_timeout_ms` timeout (503); and the `http.max_body_bytes` body limit (413).
/// Fails when an entry of `http.cors_allowed_origins` is not a valid header value.
pub fn with_middleware(router: Router, config: &Config) -> anyhow::Result<Router> {
    let settings = Arc::new(ObserveSettings { behind_tls: config.http.behind_tls });
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(settings, observe))
        .layer(CatchPanicLayer::custom(panic_response))
        .option_layer(cors_layer(&config.http.cors_allowed_origins)?)
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(config.http.request_timeout_ms),
        ))
        .layer(RequestBodyLimitLayer::new(config.http.max_body_bytes))
        .layer(DefaultBodyLimit::max(config.http.max_body_bytes));
    Ok(router.layer(layers))
}
