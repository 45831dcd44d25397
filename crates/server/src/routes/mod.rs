pub mod apps;
pub mod audit;
pub mod auth;
pub mod ops;
pub mod org;
pub mod views;
