//! Test support shared by every crate's tests: throw-away PostgreSQL databases, the whole
//! application spawned in-process on port 0 with its own data dir, and a TCP proxy that a
//! test can cut to simulate a backend going away.
//!
//! PostgreSQL tests need `TEST_POSTGRES_URL` (a superuser URL; `make test` starts a private
//! server and sets it). Without it they fail with a message saying so: they are never
//! silently skipped.
#![warn(missing_docs)]
#![allow(clippy::unwrap_used)]

pub mod app;
pub mod postgres;
pub mod proxy;

pub use app::{TestApp, TestBackend};
pub use postgres::TempDatabase;
