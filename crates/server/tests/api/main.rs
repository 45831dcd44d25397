//! Integration tests: the whole application spawned in-process on port 0.

#![allow(clippy::unwrap_used)]

/// Stamps out each named `async fn(TestBackend)` as one test per backend.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(unmogrowp_testkit::TestBackend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(unmogrowp_testkit::TestBackend::Postgres).await;
                }
            )*
        }
    };
}

mod account;
mod accounts;
mod api_tokens;
mod apps;
mod attribution;
mod clickhouse;
mod collab;
mod collect;
mod correctness;
mod deep_links;
mod deploy;
mod edits;
mod email;
mod errors;
mod graphql;
mod hardening;
mod isolation;
mod limits;
mod live;
mod middleware;
mod ops;
mod org;
mod postbacks;
mod postgres;
mod posthog;
mod pressure;
mod privacy;
mod redis;
mod roles;
mod security;
mod segment;
mod skadnetwork;
