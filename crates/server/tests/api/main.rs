//! Integration tests: the whole application spawned in-process on port 0.

#![allow(clippy::unwrap_used)]

mod errors;
mod middleware;
mod ops;
mod postgres;
