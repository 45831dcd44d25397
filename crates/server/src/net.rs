//! Client addresses (the types live in the domain crate, shared with the pipeline).

pub use unmogrowp_domain::net::{IpNet, client_ip};
