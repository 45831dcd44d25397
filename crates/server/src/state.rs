//! Shared state handed to every handler: a cheap clone of one `Arc`.

use crate::config::Config;
use crate::health::Readiness;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::Arc;
use unmogrowp_storage::Store;

#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub config: Config,
    pub store: Store,
    pub auth: Arc<crate::auth::AuthService>,
    pub log: Arc<dyn unmogrowp_bus::EventLog>,
    pub events: Arc<dyn unmogrowp_eventstore::EventStore>,
    pub pipeline: Arc<unmogrowp_pipeline::PipelineHandle>,
    pub ingest: Arc<crate::ingest::Ingest>,
    pub mailer: Arc<dyn crate::mail::Mailer>,
    /// Parsed `http.trusted_proxies`.
    pub trusted_proxies: Vec<crate::net::IpNet>,
    pub readiness: Readiness,
    pub prometheus: PrometheusHandle,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: Arc<String>,
}

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
