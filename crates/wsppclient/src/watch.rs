//! TODO

pub mod transcript;
pub mod wire;
