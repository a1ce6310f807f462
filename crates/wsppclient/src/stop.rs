//! Why a running session is asked to stop: by its user, or because the process is
//! going away.
//!
//! A `hold` or `ping` stopped by Ctrl-C (or the terminal UI's Esc) closes with 1000
//! Normal Closure: the user is done. One stopped by SIGTERM closes with 1001 Going
//! Away, as wsppsrv does when it shuts down, so the server's log says which it was.
//! A [`CancellationToken`] alone cannot carry that difference; [`Stop`] is one with a
//! flag beside it, and every function that takes a `Stop` also takes a plain token
//! (which never goes away).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Who asked a session to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The user (Ctrl-C, Enter in the menu, a key in the terminal UI).
    User,
    /// The system: SIGTERM, the process is about to end.
    GoingAway,
}

/// A cancellation that remembers whether it was SIGTERM's; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    going_away: Arc<AtomicBool>,
}

impl Stop {
    /// Not stopped yet.
    pub fn new() -> Self {
        Stop::default()
    }

    /// Stops because the user is done: sessions close with 1000.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Stops because the process is ending (SIGTERM): sessions close with 1001.
    pub fn go_away(&self) {
        // Before the cancel, so that whoever wakes on the token sees the flag.
        self.going_away.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// [`Stop::cancel`] or [`Stop::go_away`], as `reason` says.
    pub fn stop(&self, reason: Reason) {
        match reason {
            Reason::User => self.cancel(),
            Reason::GoingAway => self.go_away(),
        }
    }

    /// Whether [`Stop::go_away`] was called.
    pub fn is_going_away(&self) -> bool {
        self.going_away.load(Ordering::Acquire)
    }

    /// Whether either kind of stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once either kind of stop is asked for.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// The token underneath, for code that needs only the cancellation.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The Close frame a session stopped this way sends: 1001 with `going away` after
    /// SIGTERM, otherwise 1000 with `reason`.
    pub fn close_frame(&self, reason: &'static str) -> CloseFrame {
        if self.is_going_away() {
            CloseFrame {
                code: CloseCode::Away,
                reason: "going away".into(),
            }
        } else {
            CloseFrame {
                code: CloseCode::Normal,
                reason: reason.into(),
            }
        }
    }
}

/// Resolves with the first of Ctrl-C ([`Reason::User`]) and, if `sigterm`, SIGTERM
/// ([`Reason::GoingAway`]); a signal whose handler cannot be installed never comes.
pub async fn signalled(sigterm: bool) -> Reason {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = ctrl_c => Reason::User,
        () = terminated(), if sigterm => Reason::GoingAway,
    }
}

/// Resolves on SIGTERM; never where there is no such signal or no handler.
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate())
            && term.recv().await.is_some()
        {
            return;
        }
    }
    std::future::pending::<()>().await;
}

impl From<CancellationToken> for Stop {
    fn from(token: CancellationToken) -> Self {
        Stop {
            token,
            going_away: Arc::default(),
        }
    }
}

impl From<&CancellationToken> for Stop {
    fn from(token: &CancellationToken) -> Self {
        Stop::from(token.clone())
    }
}

impl From<&Stop> for Stop {
    fn from(stop: &Stop) -> Self {
        stop.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_going_away_closes_with_1001() {
        let stop = Stop::new();
        assert_eq!(stop.close_frame("bye").code, CloseCode::Normal);
        let clone = stop.clone();
        clone.cancel();
        assert!(stop.is_cancelled() && !stop.is_going_away());
        assert_eq!(stop.close_frame("bye").reason.as_str(), "bye");

        let term = Stop::new();
        term.clone().go_away();
        assert!(term.is_cancelled() && term.is_going_away());
        assert_eq!(term.close_frame("bye").code, CloseCode::Away);

        let token = CancellationToken::new();
        let from_token = Stop::from(&token);
        token.cancel();
        assert!(from_token.is_cancelled() && !from_token.is_going_away());
    }
}
