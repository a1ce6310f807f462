//! When a frame met the wire: the kernel's receive timestamps on a TCP socket, and the
//! clock read just before each write system call.
//!
//! A round trip timed in user space includes the time this process takes to be woken
//! up and scheduled once the answer has arrived: on a busy machine, about half of a
//! loopback RTT. ping(8) avoids that with `SO_TIMESTAMP`: the kernel stamps each packet
//! as it arrives, and the RTT runs to that stamp. [`StampedTcp`] does the same under
//! the WebSocket and TLS layers: it reads with `recvmsg` and keeps the
//! `SO_TIMESTAMPNS` stamp of the last segment each read consumed, so that when a Pong
//! comes out of tungstenite, [`StampedTcp::last_rx`] is when the kernel received the
//! bytes that completed it (over TLS too: the stamp is the ciphertext's).
//!
//! Send times are read from the clock immediately before the `write` that carried the
//! frame ([`StampedTcp::last_tx`]), not before encoding or a channel hop. Both are
//! CLOCK_REALTIME: the kernel stamps receive times on that clock and on no other, so
//! the send time is read from it too and the difference of the two is an interval of
//! one clock (only a step of the wall clock between the two, by NTP or by hand, could
//! spoil one sample, and a negative result is then thrown away).
//!
//! Where the kernel does not stamp (another OS, a refused socket option), the stream
//! still works and says so ([`StampedTcp::clock`]): callers then time with their own
//! clock, as before, and name it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which clock an RTT was taken on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// From the clock read just before the Ping's write system call to the kernel's
    /// receive stamp of the Pong: the network round trip, as ping(8) prints it.
    #[default]
    Kernel,
    /// From sending the Ping to the program seeing the Pong: includes the time the
    /// program took to wake up and read it.
    User,
}

impl Clock {
    /// `"kernel"` or `"user"`, as the JSON and the log lines name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Kernel => "kernel",
            Clock::User => "user",
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A moment on CLOCK_REALTIME, in nanoseconds since the Unix epoch: the clock of the
/// kernel's receive stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WireTime(u64);

impl WireTime {
    /// Now, on CLOCK_REALTIME.
    pub fn now() -> WireTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        WireTime::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    /// The moment `ns` nanoseconds after the epoch.
    pub fn from_nanos(ns: u64) -> WireTime {
        WireTime(ns)
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`; `None` if `earlier` is later (the wall clock
    /// was stepped back between the two).
    pub fn since(self, earlier: WireTime) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }
}

/// Something that carries a [`StampedTcp`] somewhere below it, so that the layers
/// above (TLS, WebSocket) can ask it when their bytes met the wire.
pub trait WireStamps {
    /// The stamped socket underneath.
    fn stamped(&self) -> &StampedTcp;
}

impl WireStamps for StampedTcp {
    fn stamped(&self) -> &StampedTcp {
        self
    }
}

/// Stamps are kept as nanoseconds with 0 for "none yet": an `Option` would double the
/// bytes every connection holds for them.
const NONE: u64 = 0;

fn stamp(ns: u64) -> Option<WireTime> {
    (ns != NONE).then_some(WireTime(ns))
}

#[cfg(target_os = "linux")]
mod os {
    //! Linux: `SO_TIMESTAMPNS`, and `recvmsg` through tokio's readiness of the socket.

    use std::io::{self, IoSliceMut};
    use std::os::fd::AsRawFd;
    use std::task::{Context, Poll, ready};

    use nix::sys::socket::{self, ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
    use tokio::io::{Interest, ReadBuf};
    use tokio::net::TcpStream;

    /// Room for one `SO_TIMESTAMPNS` control message (a `timespec`) with its header,
    /// and some to spare: on the stack, per read.
    const CONTROL_BYTES: usize = 64;

    /// Asks for receive stamps; the `Err` is why there will be none.
    pub(super) fn enable(tcp: &TcpStream) -> io::Result<()> {
        setsockopt(tcp, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
    }

    /// What a read or write did when it returned fewer bytes than asked for.
    ///
    /// tokio's own `TcpStream` forgets the socket's readiness after a short read or
    /// write (the socket is then empty, or full) and waits for the next edge rather
    /// than make a system call that would find nothing. `try_io` forgets it only when
    /// the call says "would block", so a short transfer is reported as that, and its
    /// result carried out beside it: without this, every message read would cost one
    /// more `recvmsg` that returns `EAGAIN`.
    fn short<T>(done: &mut Option<T>, n: usize, len: usize, result: T) -> io::Result<T> {
        if n > 0 && n < len {
            *done = Some(result);
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(result)
        }
    }

    /// Reads into `buf`; returns the kernel's stamp of the last segment read, in
    /// nanoseconds (0 when the kernel gave none).
    pub(super) fn poll_read(
        tcp: &TcpStream,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<u64>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(super::NONE));
        }
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            // The layers above hand initialised buffers (tungstenite and rustls both
            // do), so this zeroes nothing on the hot path.
            let dst = buf.initialize_unfilled();
            let len = dst.len();
            let mut done = None;
            let result = tcp.try_io(Interest::READABLE, || {
                let mut control = [0u8; CONTROL_BYTES];
                let mut iov = [IoSliceMut::new(&mut *dst)];
                let msg = recvmsg::<()>(
                    tcp.as_raw_fd(),
                    &mut iov,
                    Some(&mut control),
                    MsgFlags::empty(),
                )?;
                let mut stamp = super::NONE;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for cmsg in cmsgs {
                        if let ControlMessageOwned::ScmTimestampns(ts) = cmsg {
                            let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
                            let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
                            stamp = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
                        }
                    }
                }
                short(&mut done, msg.bytes, len, (msg.bytes, stamp))
            });
            let (n, stamp) = match (result, done) {
                (_, Some(done)) | (Ok(done), None) => done,
                (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (Err(e), None) => return Poll::Ready(Err(e)),
            };
            buf.advance(n);
            return Poll::Ready(Ok(stamp));
        }
    }

    /// One `send` of `buf`, as tokio's own write makes it.
    pub(super) fn send(tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
        Ok(socket::send(tcp.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)?)
    }

    /// One `writev` of `bufs`.
    pub(super) fn send_vectored(tcp: &TcpStream, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(nix::sys::uio::writev(tcp, bufs)?)
    }

    /// Writes with `write`, the clock read just before it; returns the bytes written
    /// and that time.
    pub(super) fn poll_write_with(
        tcp: &TcpStream,
        cx: &mut Context<'_>,
        len: usize,
        mut write: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<(usize, u64)>> {
        loop {
            ready!(tcp.poll_write_ready(cx))?;
            let mut done = None;
            let result = tcp.try_io(Interest::WRITABLE, || {
                let at = super::WireTime::now().as_nanos();
                let n = write()?;
                short(&mut done, n, len, (n, at))
            });
            return Poll::Ready(Ok(match (result, done) {
                (_, Some(done)) | (Ok(done), None) => done,
                (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => continue,
                (Err(e), None) => return Poll::Ready(Err(e)),
            }));
        }
    }
}

/// A TCP stream whose reads keep the kernel's receive stamp and whose writes keep the
/// time just before them. See the module doc.
#[derive(Debug)]
pub struct StampedTcp {
    socket: tokio::net::TcpStream,
    /// The receive stamp of the last read that returned bytes (0: none).
    rx: u64,
    /// The clock just before the last write that wrote bytes (0: none).
    tx: u64,
    /// Whether the kernel agreed to stamp what this socket receives.
    kernel: bool,
}

impl StampedTcp {
    /// Wraps `tcp`, asking the kernel to stamp what it receives. A refused socket
    /// option is no error: the stream works, on the user clock; see
    /// [`StampedTcp::clock`], and [`StampedTcp::wrap`] for the reason.
    pub fn new(tcp: tokio::net::TcpStream) -> StampedTcp {
        StampedTcp::wrap(tcp).0
    }

    /// [`StampedTcp::new`], and why the kernel will not stamp this socket's reads,
    /// if it will not.
    pub fn wrap(tcp: tokio::net::TcpStream) -> (StampedTcp, Option<String>) {
        #[cfg(target_os = "linux")]
        let refused = os::enable(&tcp)
            .err()
            .map(|e| format!("the kernel refused SO_TIMESTAMPNS: {e}"));
        #[cfg(not(target_os = "linux"))]
        let refused = Some("kernel receive timestamps are read on Linux only".to_owned());
        let stream = StampedTcp {
            socket: tcp,
            rx: NONE,
            tx: NONE,
            kernel: refused.is_none(),
        };
        (stream, refused)
    }

    /// Which clock RTTs over this socket are taken on: [`Clock::Kernel`] when the
    /// kernel stamps its reads.
    pub fn clock(&self) -> Clock {
        if self.kernel {
            Clock::Kernel
        } else {
            Clock::User
        }
    }

    /// The kernel's receive stamp of the last segment of the last read that returned
    /// bytes: when the bytes that completed the last message parsed above arrived.
    pub fn last_rx(&self) -> Option<WireTime> {
        stamp(self.rx)
    }

    /// The clock read immediately before the last write system call that wrote bytes.
    pub fn last_tx(&self) -> Option<WireTime> {
        stamp(self.tx)
    }

    /// The socket, for its addresses and options.
    pub fn socket(&self) -> &tokio::net::TcpStream {
        &self.socket
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket().peer_addr()
    }
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(target_os = "linux")]
        {
            let before = buf.filled().len();
            let stamp = std::task::ready!(os::poll_read(&this.socket, cx, buf))?;
            // A read without a stamp (the kernel turns stamping on a moment after the
            // first socket asks) leaves none, rather than an older read's.
            if buf.filled().len() > before {
                this.rx = stamp;
            }
            Poll::Ready(Ok(()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Pin::new(&mut this.socket).poll_read(cx, buf)
        }
    }
}

/// What one write system call is to write.
#[derive(Clone, Copy)]
enum Out<'a> {
    One(&'a [u8]),
    Many(&'a [io::IoSlice<'a>]),
}

impl StampedTcp {
    /// Writes `out` with one system call, the clock read just before it.
    fn poll_timed_write(&mut self, cx: &mut Context<'_>, out: Out<'_>) -> Poll<io::Result<usize>> {
        let tcp = &self.socket;
        #[cfg(target_os = "linux")]
        let (n, at) = {
            let len = match out {
                Out::One(buf) => buf.len(),
                Out::Many(bufs) => bufs.iter().map(|b| b.len()).sum(),
            };
            std::task::ready!(os::poll_write_with(tcp, cx, len, || match out {
                Out::One(buf) => os::send(tcp, buf),
                Out::Many(bufs) => os::send_vectored(tcp, bufs),
            }))?
        };
        #[cfg(not(target_os = "linux"))]
        let (n, at) = loop {
            std::task::ready!(tcp.poll_write_ready(cx))?;
            let at = WireTime::now().as_nanos();
            let written = match out {
                Out::One(buf) => tcp.try_write(buf),
                Out::Many(bufs) => tcp.try_write_vectored(bufs),
            };
            match written {
                Ok(n) => break (n, at),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        };
        if n > 0 {
            self.tx = at;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_timed_write(cx, Out::One(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_timed_write(cx, Out::Many(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: every write is a system call.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_carry_the_kernels_stamp_and_writes_the_clock_before_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, server) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let mut client = StampedTcp::new(client.expect("connect"));
        let (mut server, _) = server.expect("accept");
        assert_eq!(client.last_rx(), None);
        assert_eq!(client.last_tx(), None);

        // The kernel turns stamping on shortly after the first socket of the system
        // asks for it, so the first reads may carry no stamp: a few round trips.
        let mut stamped = 0;
        for _ in 0..200 {
            let before = WireTime::now();
            client.write_all(b"ping").await.expect("write");
            let sent = client.last_tx().expect("a write was timed");
            assert!(sent >= before);
            let mut got = [0u8; 4];
            server.read_exact(&mut got).await.expect("server read");
            server.write_all(b"pong").await.expect("server write");
            client.read_exact(&mut got).await.expect("client read");
            assert_eq!(&got, b"pong");
            let after = WireTime::now();
            if let Some(received) = client.last_rx() {
                assert!(
                    sent <= received && received <= after,
                    "{sent:?} {received:?} {after:?}"
                );
                stamped += 1;
                if stamped == 3 {
                    break;
                }
            }
        }
        match client.clock() {
            Clock::Kernel => assert_eq!(stamped, 3, "the kernel stamped no read"),
            Clock::User => assert_eq!(stamped, 0),
        }
        let mut got = [0u8; 4];
        client.shutdown().await.expect("shutdown");
        assert_eq!(server.read(&mut got).await.expect("eof"), 0);
    }

    #[test]
    fn a_clock_stepped_back_gives_no_interval() {
        let (a, b) = (WireTime::from_nanos(10), WireTime::from_nanos(25));
        assert_eq!(b.since(a), Some(Duration::from_nanos(15)));
        assert_eq!(a.since(b), None);
        assert_eq!(Clock::Kernel.to_string(), "kernel");
        assert_eq!(
            serde_json::to_string(&Clock::User).expect("json"),
            "\"user\""
        );
    }
}
