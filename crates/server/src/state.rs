//! Shared state handed to every handler: a cheap clone of one `Arc`.

use crate::config::Config;
use crate::health::Readiness;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::Arc;
use unmogrowp_storage::Store;

/// The state every handler receives: a cheap clone of one `Arc`, dereferencing to
/// [`AppStateInner`].
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// What the handlers share, built once by [`Application::build`](crate::Application::build).
pub struct AppStateInner {
    /// The configuration the server started with (`addr` is the address actually bound).
    pub config: Config,
    /// The OLTP database (accounts, organizations, apps, links, postbacks, audit log): PostgreSQL
    /// or SQLite.
    pub store: Store,
    /// Passwords, tokens, login throttling, session and membership caches.
    pub auth: Arc<crate::auth::AuthService>,
    /// The event log that collection appends to: NATS JetStream (`nats_url`) or the file log in the
    /// data dir.
    pub log: Arc<dyn unmogrowp_bus::EventLog>,
    /// The event store that reports read: ClickHouse (`events_url`) or SQLite in the data dir.
    pub events: Arc<dyn unmogrowp_eventstore::EventStore>,
    /// A handle on the pipeline that consumes the log: how far it has got (for lag, backpressure
    /// and read-your-writes waits), the live feed, and its cache of app settings.
    pub pipeline: Arc<unmogrowp_pipeline::PipelineHandle>,
    /// Collection: checks events, clicks and impressions and appends them to the log.
    pub ingest: Arc<crate::ingest::Ingest>,
    /// Sends email: over SMTP (`smtp_url`) or as files in `<data_dir>/outbox/`.
    pub mailer: Arc<dyn crate::mail::Mailer>,
    /// Parsed `http.trusted_proxies`.
    pub trusted_proxies: Vec<crate::net::IpNet>,
    /// The checks `/readyz` runs.
    pub readiness: Readiness,
    /// Redis-shared limits, caches and invalidations (per node without `redis_url`).
    pub shared: crate::shared::Shared,
    /// Request rate limits of the public account endpoints.
    pub limits: Arc<crate::limits::Limits>,
    /// L1 of the report cache: response bodies by tenant-prefixed key.
    pub report_cache: moka::future::Cache<String, bytes::Bytes>,
    /// Renders the Prometheus metrics served at `/metrics`.
    pub prometheus: PrometheusHandle,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: Arc<String>,
    /// Presence and annotation messages for the live connections of this node.
    pub collab: crate::collab::Collab,
    /// The GraphQL schema (`/api/graphql`).
    pub graphql: crate::graphql::GraphqlSchema,
    /// The API router GraphQL resolvers read through (set once the router is built).
    pub graphql_rest: crate::graphql::Rest,
}

impl AppState {
    /// Wraps the shared parts in one `Arc`.
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppState {
    /// Drops an entry from this node's caches and tells the other nodes to do the same.
    pub async fn invalidate(&self, invalidation: crate::shared::Invalidation) {
        self.apply_invalidation(invalidation.clone()).await;
        self.shared.publish(&invalidation).await;
    }

    /// Drops an entry from this node's caches only (another node's message).
    pub async fn apply_invalidation(&self, invalidation: crate::shared::Invalidation) {
        use crate::shared::Invalidation;
        match invalidation {
            Invalidation::Session { id } => {
                let id = unmogrowp_domain::SessionId::from_stored(id);
                self.auth.forget_session(&id).await;
            }
            Invalidation::Membership { user_id, org_id } => {
                let user_id = unmogrowp_domain::UserId::from_stored(user_id);
                let org_id = unmogrowp_domain::OrgId::from_stored(org_id);
                self.auth.forget_membership(&user_id, &org_id).await;
            }
            Invalidation::App { id, token } => {
                let id = unmogrowp_domain::AppId::from_stored(id);
                self.ingest.forget_app(&id, &token).await;
                self.pipeline.forget_app_settings();
            }
            Invalidation::Link { id } => {
                let id = unmogrowp_domain::LinkId::from_stored(id);
                self.ingest.forget_link(&id).await;
            }
            Invalidation::Key { id } => {
                let id = unmogrowp_domain::KeyId::from_stored(id);
                self.ingest.forget_key(&id).await;
            }
            Invalidation::ApiToken { token_hash } => self.auth.forget_api_token(&token_hash).await,
            Invalidation::AppSettings => self.pipeline.forget_app_settings(),
            Invalidation::Heartbeat => {}
            Invalidation::All => {
                self.auth.forget_all();
                self.ingest.forget_all();
                self.pipeline.forget_app_settings();
                self.report_cache.invalidate_all();
            }
        }
    }
}

impl Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
