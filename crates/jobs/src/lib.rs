//! Background work beside the pipeline: delivering postbacks to ad networks and sending
//! email. Both run outside any request and survive the failure of what they call: postback
//! deliveries are claimed from the OLTP store under a lease and retried with backoff behind a
//! per-host circuit breaker; email is retried a few times in the background and never tells
//! a requester whether it was delivered.
//!
//! The server starts these and hands them requests' work; nothing here speaks HTTP to
//! clients. A durable job queue with schedules (issue 16) belongs here too.
//!
//! Code: `postbacks.rs` (the sender and its options), `outbound.rs` (the SSRF guard every
//! call to a tenant-chosen URL goes through), `mail.rs` (transports and templates),
//! `metric_names.rs` (the metrics this crate records).
#![warn(missing_docs)]

pub mod mail;
pub mod metric_names;
pub mod outbound;
pub mod postbacks;

pub use outbound::OutboundPolicy;
pub use postbacks::{PostbackSender, PostbacksConfig, install_crypto_provider};
