pub mod ops;
pub mod auth;
