//! The run the terminal UI shows: which request (or `listen`), since when, and how it
//! stands.
//!
//! The app starts, cancels and ends runs; the transcript pane names the run in its
//! title. Both read it from here, below them.

use std::time::{Duration, Instant};

use super::event::RunId;
use crate::commands::catalog::MenuEntry;

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// In flight.
    Running,
    /// Asked to stop, winding down.
    Cancelling,
    /// Over.
    Ended {
        /// How long it took.
        after: Duration,
        /// How it ended.
        how: Ending,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// By itself, or stopped cleanly after a cancel.
    Done,
    /// Cancelled before it could finish.
    Cancelled,
    /// With an error (shown in the transcript).
    Failed,
    /// Dropped without waiting for it.
    Abandoned,
}

/// The current (or latest) run.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its number.
    pub id: RunId,
    /// What it runs: a request, or `listen`.
    pub request: MenuEntry,
    /// When it started.
    pub started: Instant,
    /// How it stands.
    pub state: RunState,
}

impl Run {
    /// Whether it is still in flight (running or winding down).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, RunState::Ended { .. })
    }
}
