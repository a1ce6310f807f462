//! TODO

pub mod cli;
pub mod invoke;
pub mod local_server;
pub mod menu;
pub mod tui;
