//! Which clients one answer lists: `?after=ID&limit=N`, for the page and `/clients.json`.
//!
//! A cursor names the last client id already seen, not a position: the registry keeps
//! its clients in an ordered map by id, so a page is a range of that map from `after`
//! on, and costs the same at any depth, with 10 clients or 100,000. A position would
//! have to be walked to. It also stays right while clients come and go: a page never
//! repeats nor skips a client that stayed connected. The limit has a ceiling
//! ([`Cursor::MAX_LIMIT`]), so no single answer grows with the number of clients.

use std::fmt;

/// The clients with an id above `after`, oldest first, at most `limit` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last id already seen; 0 (no client has it) starts from the oldest.
    pub after: u64,
    /// The most clients to list; always within `1..=Cursor::MAX_LIMIT`.
    pub limit: usize,
}

impl Cursor {
    /// The most clients one answer lists, whatever `?limit=` asks: a page of this many
    /// rows is about a megabyte of HTML or JSON at most, peer text being cut to
    /// [`crate::untrusted::KEPT_BYTES`].
    pub const MAX_LIMIT: usize = 1000;

    /// Clients `/clients.json` lists unless `?limit=` says otherwise. (The page's own
    /// default is [`crate::page::DEFAULT_LIMIT`].)
    pub const JSON_LIMIT: usize = 100;

    /// The first page of `limit` clients.
    pub fn first(limit: usize) -> Cursor {
        Cursor {
            after: 0,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    /// Reads `after` and `limit` from a raw query string, `default_limit` when it gives
    /// none. Other keys are ignored, so cache-busting parameters do no harm. An empty
    /// value keeps the default (that is what an empty form field sends); a value that
    /// is not a whole number is refused. A limit outside `1..=MAX_LIMIT` is clamped into
    /// it rather than refused, since the answer says how many it lists.
    pub fn from_query(query: Option<&str>, default_limit: usize) -> Result<Cursor, BadQuery> {
        let mut after = 0;
        let mut limit = default_limit;
        for pair in query.unwrap_or("").split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() {
                continue;
            }
            match key {
                "after" => {
                    after = whole_number(value).ok_or(BadQuery {
                        reason: "after must be a client id (a whole number)",
                    })?;
                }
                "limit" => {
                    let n = whole_number(value).ok_or(BadQuery {
                        reason: "limit must be a whole number",
                    })?;
                    limit = usize::try_from(n).unwrap_or(usize::MAX);
                }
                _ => {}
            }
        }
        Ok(Cursor {
            after,
            ..Cursor::first(limit)
        })
    }
}

/// The cursors of the pages around one page, each the `after` that asks for it: what
/// the page's links point to. `None` where there is no such page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Neighbours {
    /// The `limit` clients before this page's first (fewer at the start).
    pub previous: Option<u64>,
    /// The clients after this page's last.
    pub next: Option<u64>,
    /// The newest `limit` clients, when this page is not already among them.
    pub last: Option<u64>,
}

/// A query that cannot be read; the server answers 400 with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadQuery {
    /// What was wrong, in one line.
    pub reason: &'static str,
}

impl fmt::Display for BadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for BadQuery {}

/// ASCII digits only (no sign, no percent-encoding); too many digits saturate, which
/// for a cursor simply means "past the end".
fn whole_number(text: &str) -> Option<u64> {
    text.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit()
            .then(|| n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(query: &str) -> Result<Cursor, BadQuery> {
        Cursor::from_query(Some(query), 100)
    }

    #[test]
    fn after_and_limit_are_read_and_the_rest_ignored() {
        assert_eq!(
            read("after=42&limit=7&x=1"),
            Ok(Cursor {
                after: 42,
                limit: 7
            })
        );
        assert_eq!(Cursor::from_query(None, 100), Ok(Cursor::first(100)));
        assert_eq!(read("after=&limit="), Ok(Cursor::first(100)));
        assert_eq!(read("offset=5"), Ok(Cursor::first(100)));
    }

    #[test]
    fn a_limit_is_clamped_and_garbage_refused() {
        assert_eq!(read("limit=0").map(|c| c.limit), Ok(1));
        assert_eq!(
            read("limit=99999999999999999999999").map(|c| c.limit),
            Ok(Cursor::MAX_LIMIT)
        );
        assert_eq!(
            read("limit=ten").map_err(|e| e.reason),
            Err("limit must be a whole number")
        );
        assert!(read("after=-1").is_err());
        assert_eq!(
            read("after=99999999999999999999999").map(|c| c.after),
            Ok(u64::MAX)
        );
    }
}
