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
//! Send times come from the kernel too, when asked for ([`StampedTcp::stamp_sends`]
//! before the write, [`StampedTcp::sent`] after it): `SO_TIMESTAMPING`'s software
//! transmit stamp, taken as the segment leaves for the device, read back from the
//! socket's error queue and matched to the write by the byte count `OPT_ID` gives it.
//! Reading the clock before the write system call instead leaves the system call and
//! the whole TCP/IP transmit path inside the RTT: on a small VM about 30 µs of a 60 µs
//! loopback round trip. Only the writes that carry a probe are stamped: the option is
//! turned on for them and off again before the next other write, so echo traffic and
//! idle connections pay nothing. Where no stamp comes, the send time is the clock
//! read immediately before the write, and [`Sent::clock`] says so.
//!
//! The error queue is read in the same call as the write it stamps, right after it.
//! That is not only the earliest moment: a non-empty error queue makes epoll report
//! `EPOLLERR`, which tokio takes for "write side closed" and never forgets (the
//! socket would then look writable for good). On loopback, and wherever the device
//! takes the segment at once, the stamp is already queued when the write returns.
//!
//! All stamps are CLOCK_REALTIME: the kernel stamps on that clock and on no other, so
//! the user clock's send times are read from it too and every difference is an
//! interval of one clock (only a step of the wall clock between the two, by NTP or by
//! hand, could spoil one sample, and a negative result is then thrown away).
//!
//! Where the kernel does not stamp (another OS, a refused socket option), the stream
//! still works and says so ([`StampedTcp::clock`]): callers then time with their own
//! clock, as before, and name it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// When a write met the wire, and on which clock that was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The moment.
    pub at: WireTime,
    /// [`Clock::Kernel`]: the kernel's transmit stamp; [`Clock::User`]: the clock read
    /// just before the write system call (no stamp was asked for, or none came).
    pub clock: Clock,
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
    //! Linux: `SO_TIMESTAMPING` (or `SO_TIMESTAMPNS` for receive stamps alone), and
    //! `recvmsg` through tokio's readiness of the socket.

    use std::io::{self, IoSliceMut};
    use std::os::fd::AsRawFd;
    use std::task::{Context, Poll, ready};

    use nix::errno::Errno;
    use nix::libc;
    use nix::sys::socket::{
        self, ControlMessageOwned, MsgFlags, TimestampingFlag, recvmsg, setsockopt, sockopt,
    };
    use nix::sys::time::TimeSpec;
    use tokio::io::{Interest, ReadBuf};
    use tokio::net::TcpStream;

    /// Room for one `SCM_TIMESTAMPING` control message (three `timespec`s) with its
    /// header: on the stack, per read.
    const CONTROL_BYTES: usize = 64;

    /// Room for what one error-queue message carries: the timestamps and the extended
    /// error with the peer's address (IPv6 at most).
    const ERRQUEUE_CONTROL_BYTES: usize = 160;

    /// `ee_info` of a stamp taken as the segment went to the device (linux/errqueue.h;
    /// the libc crate does not name it).
    const SCM_TSTAMP_SND: u32 = 0;

    /// Stamped sends still waiting in the error queue are read at most this many at a
    /// time: it holds one per stamped write, and all but the last are stale.
    const ERRQUEUE_READS: usize = 8;

    /// What a socket always has on: software receive stamps, reported; transmit
    /// stamps numbered by the byte (`OPT_ID`) and without the packet (`OPT_TSONLY`).
    fn base() -> TimestampingFlag {
        TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_OPT_ID
            | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY
    }

    /// Asks for receive stamps and readies transmit stamps; `Ok(false)` when only
    /// receive stamps could be had. The `Err` is why there will be none.
    ///
    /// `OPT_ID` numbers bytes from the first one not yet acknowledged, so this must
    /// come before the first write (or when all written has been acknowledged): byte
    /// `n` written through [`super::StampedTcp`] is then number `n`.
    pub(super) fn enable(tcp: &TcpStream) -> io::Result<bool> {
        if setsockopt(tcp, sockopt::Timestamping, &base()).is_ok() {
            return Ok(true);
        }
        setsockopt(tcp, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)?;
        Ok(false)
    }

    /// Asks for receive stamps on a socket not yet connected, or listening (whose
    /// connections inherit it).
    pub(super) fn prepare(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
        let flags = TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE;
        setsockopt(socket, sockopt::Timestamping, &flags).map_err(io::Error::from)
    }

    /// Turns transmit stamps on for the writes that follow, or off.
    pub(super) fn stamp_sends(tcp: &TcpStream, on: bool) -> io::Result<()> {
        let flags = if on {
            base() | TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE
        } else {
            base()
        };
        setsockopt(tcp, sockopt::Timestamping, &flags).map_err(io::Error::from)
    }

    fn nanos(ts: &TimeSpec) -> u64 {
        let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec()).unwrap_or(0);
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }

    /// Reads the error queue empty (bounded); returns the transmit stamp of the write
    /// whose last byte is number `key`, in nanoseconds, if it was there.
    pub(super) fn sent_stamp(tcp: &TcpStream, key: u32) -> Option<u64> {
        let mut found = None;
        for _ in 0..ERRQUEUE_READS {
            let mut control = [0u8; ERRQUEUE_CONTROL_BYTES];
            // OPT_TSONLY: the message carries no bytes, only its control messages.
            let mut iov: [IoSliceMut<'_>; 0] = [];
            let msg = match recvmsg::<()>(
                tcp.as_raw_fd(),
                &mut iov,
                Some(&mut control),
                MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => msg,
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let (mut at, mut id) = (None, None);
            if let Ok(cmsgs) = msg.cmsgs() {
                for cmsg in cmsgs {
                    match cmsg {
                        ControlMessageOwned::ScmTimestampsns(ts) => at = Some(nanos(&ts.system)),
                        ControlMessageOwned::Ipv4RecvErr(err, _)
                        | ControlMessageOwned::Ipv6RecvErr(err, _)
                            if err.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                                && err.ee_info == SCM_TSTAMP_SND =>
                        {
                            id = Some(err.ee_data);
                        }
                        _ => {}
                    }
                }
            }
            if let (Some(at), Some(id)) = (at, id)
                && id == key
                && at != super::NONE
            {
                found = Some(at);
            }
        }
        found
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
                        match cmsg {
                            ControlMessageOwned::ScmTimestampsns(ts) => stamp = nanos(&ts.system),
                            ControlMessageOwned::ScmTimestampns(ts) => stamp = nanos(&ts),
                            _ => {}
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

    /// Gives up transmit stamps on `tcp` and registers it with tokio afresh, through a
    /// duplicate of its descriptor: tokio's registration keeps a "write closed" it
    /// took from the error queue's `EPOLLERR` for good, and would say writable when
    /// the socket is full. Stamps that came late (the peer's window was shut, so the
    /// segment left long after its write) are read first, so that the new
    /// registration does not see the error queue at once.
    pub(super) fn reregister(tcp: &mut TcpStream) -> io::Result<()> {
        // Best effort: a refusal leaves stamps on, and this may happen again.
        let _ = setsockopt(&*tcp, sockopt::Timestamping, &base());
        sent_stamp(tcp, 0);
        let dup = std::net::TcpStream::from(std::os::fd::AsFd::as_fd(&*tcp).try_clone_to_owned()?);
        *tcp = TcpStream::from_std(dup)?;
        Ok(())
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
        let mut blocked = 0u8;
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
                (Err(e), None) if e.kind() == io::ErrorKind::WouldBlock => {
                    blocked += 1;
                    if blocked > 1 {
                        // Said writable twice and full twice: tokio has taken an
                        // `EPOLLERR` (a transmit stamp queued after the write, when
                        // the segment could not leave at once) for "closed" and will
                        // say writable for good. The caller registers the socket
                        // afresh (see `reregister`); "would block" says so.
                        return Poll::Ready(Err(e));
                    }
                    continue;
                }
                (Err(e), None) => return Poll::Ready(Err(e)),
            }));
        }
    }
}

/// Asks the kernel to stamp what `socket` will receive, before it connects (or on a
/// listener, whose connections inherit it); [`StampedTcp::wrap`] then asks for the rest.
///
/// This is for the first round trip. The kernel does not stamp a received segment
/// until one socket of the system has asked for stamps, and when it is the first, the
/// switch is made a moment later by a kernel worker thread (a static key, flipped out
/// of the asking context), so segments that arrive meanwhile carry no stamp. Asking
/// before the connection exists gives that worker the TCP and WebSocket handshakes to
/// run in; a listener that asks keeps stamping on for as long as the server runs.
/// A refusal is not an error worth stopping for, so none is returned.
pub fn prepare(socket: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    let _ = os::prepare(socket);
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

/// A TCP stream whose reads keep the kernel's receive stamp and whose writes keep when
/// they met the wire. See the module doc.
#[derive(Debug)]
pub struct StampedTcp {
    socket: tokio::net::TcpStream,
    /// The receive stamp of the last read that returned bytes (0: none).
    rx: u64,
    /// When the last write that wrote bytes met the wire (0: none): the kernel's
    /// transmit stamp when `tx_kernel`, else the clock just before it.
    tx: u64,
    /// Bytes written so far, modulo 2^32 as the kernel numbers them for `OPT_ID`.
    written: u32,
    /// Whether the kernel agreed to stamp what this socket receives.
    kernel: bool,
    /// Whether the kernel can stamp what this socket sends.
    tx_stamps: bool,
    /// Whether transmit stamps are on at the moment.
    tx_on: bool,
    /// Whether `tx` is the kernel's stamp.
    tx_kernel: bool,
    /// Asked for by [`StampedTcp::stamp_sends`] (through the layers above, which give
    /// only shared access), until [`StampedTcp::sent`].
    want_tx: AtomicBool,
}

impl StampedTcp {
    /// Wraps `tcp`, asking the kernel to stamp what it receives, and to be ready to
    /// stamp what it sends. Call it before the first write (see the module doc). A
    /// refused socket option is no error: the stream works, on the user clock; see
    /// [`StampedTcp::clock`], and [`StampedTcp::wrap`] for the reason.
    pub fn new(tcp: tokio::net::TcpStream) -> StampedTcp {
        StampedTcp::wrap(tcp).0
    }

    /// [`StampedTcp::new`], and why the kernel will not stamp this socket's reads,
    /// if it will not.
    pub fn wrap(tcp: tokio::net::TcpStream) -> (StampedTcp, Option<String>) {
        #[cfg(target_os = "linux")]
        let (tx_stamps, refused) = match os::enable(&tcp) {
            Ok(tx) => (tx, None),
            Err(e) => (
                false,
                Some(format!("the kernel refused SO_TIMESTAMPNS: {e}")),
            ),
        };
        #[cfg(not(target_os = "linux"))]
        let (tx_stamps, refused) = (
            false,
            Some("kernel receive timestamps are read on Linux only".to_owned()),
        );
        let stream = StampedTcp {
            socket: tcp,
            rx: NONE,
            tx: NONE,
            written: 0,
            kernel: refused.is_none(),
            tx_stamps,
            tx_on: false,
            tx_kernel: false,
            want_tx: AtomicBool::new(false),
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

    /// Asks the kernel to stamp the writes from now until [`StampedTcp::sent`] is
    /// called: those that carry a probe whose RTT is to be timed.
    pub fn stamp_sends(&self) {
        if self.tx_stamps {
            self.want_tx.store(true, Ordering::Relaxed);
        }
    }

    /// When the last write system call that wrote bytes met the wire: the kernel's
    /// transmit stamp if [`StampedTcp::stamp_sends`] asked for one and it came, else
    /// the clock read just before it. Ends what `stamp_sends` asked for.
    pub fn sent(&self) -> Option<Sent> {
        self.want_tx.store(false, Ordering::Relaxed);
        let clock = if self.tx_kernel {
            Clock::Kernel
        } else {
            Clock::User
        };
        stamp(self.tx).map(|at| Sent { at, clock })
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
    /// Writes `out` with one system call, the clock read just before it, and the
    /// kernel's transmit stamp read just after it when one was asked for.
    fn poll_timed_write(&mut self, cx: &mut Context<'_>, out: Out<'_>) -> Poll<io::Result<usize>> {
        let tcp = &self.socket;
        #[cfg(target_os = "linux")]
        let (n, at) = {
            let want = self.want_tx.load(Ordering::Relaxed);
            if want != self.tx_on {
                // A refusal leaves the option as it was: this write is then timed
                // on the user clock (or stamped needlessly, and the stamp dropped).
                if os::stamp_sends(tcp, want).is_ok() {
                    self.tx_on = want;
                }
            }
            let len = match out {
                Out::One(buf) => buf.len(),
                Out::Many(bufs) => bufs.iter().map(|b| b.len()).sum(),
            };
            loop {
                let tcp = &self.socket;
                match std::task::ready!(os::poll_write_with(tcp, cx, len, || match out {
                    Out::One(buf) => os::send(tcp, buf),
                    Out::Many(bufs) => os::send_vectored(tcp, bufs),
                })) {
                    Ok(done) => break done,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        os::reregister(&mut self.socket)?;
                        // No more transmit stamps on this socket: a peer that stops
                        // reading would make every one come late.
                        self.tx_stamps = false;
                        self.tx_on = false;
                        self.want_tx.store(false, Ordering::Relaxed);
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
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
            // The kernel numbers bytes modulo 2^32.
            self.written = self.written.wrapping_add(n as u32);
            self.tx = at;
            self.tx_kernel = false;
            #[cfg(target_os = "linux")]
            if self.tx_on
                && let Some(wire) = os::sent_stamp(&self.socket, self.written.wrapping_sub(1))
            {
                self.tx = wire;
                self.tx_kernel = true;
            }
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
    async fn reads_and_asked_for_writes_carry_the_kernels_stamps() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, server) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let mut client = StampedTcp::new(client.expect("connect"));
        let (mut server, _) = server.expect("accept");
        assert_eq!(client.last_rx(), None);
        assert_eq!(client.sent(), None);

        // The kernel turns receive stamping on only once a worker thread has run
        // after the first socket of the system asked for it, so the first reads may
        // carry no stamp: as many round trips as a loaded machine needs for that.
        let mut stamped = 0;
        let mut sent_by_kernel = 0;
        for _ in 0..5000 {
            let before = WireTime::now();
            client.stamp_sends();
            client.write_all(b"ping").await.expect("write");
            let Sent { at: sent, clock } = client.sent().expect("a write was timed");
            assert!(sent >= before);
            sent_by_kernel += u32::from(clock == Clock::Kernel);
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
        // Transmit stamps need no warming up: every asked-for send had one.
        if client.tx_stamps {
            assert!(sent_by_kernel >= 3, "{sent_by_kernel} sends stamped");
        }
        // Unasked, a write is timed on the user clock.
        client.write_all(b"x").await.expect("write");
        assert_eq!(client.sent().map(|s| s.clock), Some(Clock::User));
        server.read_exact(&mut [0u8; 1]).await.expect("read");
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
