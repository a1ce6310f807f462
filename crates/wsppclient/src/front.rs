//! How a person asks the client for something: the top of the crate, which nothing
//! else in it calls.
//!
//! [`cli`] parses the command line into an [`invocation::Invocation`], plain data that
//! tests build without clap. [`invoke`] runs one: it settles where the server is (the
//! user's, or one started here by [`local_server`]) before it builds the connection
//! settings, so that nothing changes them afterwards, then hands them to the chosen
//! front-end: the terminal UI ([`tui`], one file a pane), the numbered [`menu`] when
//! there is no terminal, one request with its transcript printed, or ping(8)'s
//! output. `load` prints through [`load_printer`], which the subcommand and the
//! numbered menu share.

pub mod cli;
pub mod invocation;
pub mod invoke;
pub mod load_printer;
pub mod local_server;
pub mod menu;
pub mod tui;
