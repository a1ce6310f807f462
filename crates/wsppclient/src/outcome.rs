//! How a run of the client ended, when it did not fail, and the exit status that says so.
//!
//! Its own module, below every front-end: the menu, the terminal UI and the one-shot
//! runs each end with an [`Outcome`], and none of them should have to import another
//! front-end to name it.

/// How a run ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went as asked.
    Success,
    /// `ping` lost at least one ping (or sent none).
    Loss,
    /// The user quit the menu with Ctrl-C.
    Interrupted,
    /// The terminal UI was asked to end by SIGTERM.
    Terminated,
}

impl Outcome {
    /// How a measuring run (`ping`, `load`) ended: [`Outcome::Terminated`] after
    /// SIGTERM, otherwise success or loss as `passed` says.
    pub fn measured(going_away: bool, passed: bool) -> Outcome {
        match (going_away, passed) {
            (true, _) => Outcome::Terminated,
            (false, true) => Outcome::Success,
            (false, false) => Outcome::Loss,
        }
    }

    /// The process exit status: 0, 1 (as ping(8) on loss), or the shell's 128 + signal
    /// for a run ended by a signal: 130 (SIGINT, Ctrl-C) and 143 (SIGTERM).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Loss => 1,
            Outcome::Interrupted => 130,
            Outcome::Terminated => 143,
        }
    }
}
