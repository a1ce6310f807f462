//! TODO

pub mod connect;
pub mod proxy;
pub mod resolve;
pub mod tap;
pub mod tls;
