//! The UnMoGrowP HTTP server: configuration, routes, middleware, OpenAPI.
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod collab;
pub mod config;
pub mod dashboard;
pub mod docs;
pub mod encryption;
pub mod error;
pub mod extract;
pub mod graphql;
pub mod health;
/// Collection (in the ingest crate).
pub use unmogrowp_ingest as ingest;
pub mod landing;
pub mod limits;
/// Email transports and templates (in the jobs crate).
pub use unmogrowp_jobs::mail;
pub mod metric_names;
pub mod middleware;
pub mod net;
pub mod openapi;
pub mod otel;
/// The postback sender (in the jobs crate).
pub use unmogrowp_jobs::postbacks;
pub mod request_id;
pub mod roles;
/// The HTTP handlers, one module per area of the API (accounts, organizations, apps, links,
/// postbacks, collection, attribution, reports, exports, the live feed, operations), each annotated
/// for the OpenAPI document.
pub mod routes;
pub mod security_config;
pub mod security_events;
/// Keys and secrets (in the auth crate).
pub use unmogrowp_auth::secrets;
pub mod serve;
pub mod slow_queries;
/// What the nodes share through Redis (in the shared crate).
pub use unmogrowp_shared as shared;
pub mod state;
pub mod telemetry;

pub use app::Application;
pub use config::{Config, Overrides, ServerRole};
