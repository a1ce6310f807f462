//! When a frame met the wire: the kernel's receive timestamps on a TCP socket, and the
//! clock read just before each write system call.
//!
//! A round trip timed in user space includes the time this process takes to be woken
//! up and scheduled once the answer has arrived: on a busy machine, much of a loopback
//! RTT (docs/benchmarks.md, section 15, has the figures). ping(8) avoids that with `SO_TIMESTAMP`: the kernel stamps each packet
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
//! the whole TCP/IP transmit path inside the RTT, a large share of a loopback round
//! trip (docs/benchmarks.md, section 15). Only the writes that carry a probe are stamped: the option is
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
//! What is not needed is not paid for. A server asks on its listener
//! ([`pass_on`]), and its connections start with receive stamps (and `TCP_NODELAY`)
//! on and no system call of their own; their bytes are numbered for transmit stamps
//! at their first stamped write, where the option is set anyway. Reads ask for the
//! stamp only while [`StampedTcp::stamp_reads`] says an answer is awaited: a server
//! answering its clients' Pings and echoing their messages reads with a plain
//! `recv`.
//!
//! Where the kernel does not stamp (another OS, a refused socket option), the stream
//! still works and says so ([`StampedTcp::clock`]): callers then time with their own
//! clock, as before, and name it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

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

#[cfg(target_os = "linux")]
mod os;
mod time;

pub use time::WireTime;
use time::{NONE, Numbering, stamp};

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

/// What connections accepted from a listener have on from the start: see [`pass_on`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inherited {
    /// Receive stamps (the listener was [`prepare`]d and the kernel agreed).
    pub stamps: bool,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
}

/// Turns on, on `listener`, what its connections inherit (`TCP_NODELAY`; receive
/// stamps come from [`prepare`]) and says what they will have: each setting a
/// connection inherits is one system call fewer per connection. Linux passes both on
/// to accepted sockets; elsewhere nothing is assumed.
pub fn pass_on(listener: &impl std::os::fd::AsFd) -> Inherited {
    #[cfg(target_os = "linux")]
    {
        let (stamps, nodelay) = os::pass_on(listener);
        Inherited { stamps, nodelay }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = listener;
        Inherited::default()
    }
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
    /// `written` when the kernel started numbering: its byte 0.
    numbered_from: u32,
    /// How the kernel numbers the bytes written.
    numbering: Numbering,
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
    /// Whether reads ask for their receive stamp ([`StampedTcp::stamp_reads`]).
    want_rx: AtomicBool,
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
        let numbering = Numbering::FromUnacked;
        (
            StampedTcp::with(tcp, refused.is_none(), tx_stamps, numbering),
            refused,
        )
    }

    /// Wraps `tcp`, accepted from a listener that passed `inherited` on (see
    /// [`pass_on`]): with receive stamps inherited, no system call is made here, and
    /// transmit stamps are readied by the first write that wants one. Without them,
    /// as [`StampedTcp::wrap`].
    pub fn accepted(
        tcp: tokio::net::TcpStream,
        inherited: Inherited,
    ) -> (StampedTcp, Option<String>) {
        if inherited.stamps {
            (StampedTcp::with(tcp, true, true, Numbering::Unset), None)
        } else {
            StampedTcp::wrap(tcp)
        }
    }

    fn with(
        socket: tokio::net::TcpStream,
        kernel: bool,
        tx_stamps: bool,
        numbering: Numbering,
    ) -> StampedTcp {
        StampedTcp {
            socket,
            rx: NONE,
            tx: NONE,
            written: 0,
            numbered_from: 0,
            numbering,
            kernel,
            tx_stamps,
            tx_on: false,
            tx_kernel: false,
            want_tx: AtomicBool::new(false),
            want_rx: AtomicBool::new(true),
        }
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

    /// Whether the reads from now on ask for their receive stamp (they do until told
    /// otherwise). A reader that knows no answer is awaited turns them off and saves
    /// the control messages; it must turn them on before sending what will be
    /// answered, so that the read that brings the answer is stamped. A read without
    /// its stamp leaves [`StampedTcp::last_rx`] empty.
    pub fn stamp_reads(&self, on: bool) {
        self.want_rx.store(on, Ordering::Relaxed);
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
            let stamp = if this.kernel && this.want_rx.load(Ordering::Relaxed) {
                std::task::ready!(os::poll_read(&this.socket, cx, buf))?
            } else {
                std::task::ready!(os::poll_read_unstamped(&mut this.socket, cx, buf))?;
                NONE
            };
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
                if self.numbering == Numbering::Unset {
                    // Only `want` gets here: off is how an unnumbered socket starts.
                    match os::number_sends(tcp) {
                        Ok(numbering) => {
                            self.numbering = numbering;
                            self.numbered_from = self.written;
                            self.tx_on = true;
                        }
                        // Refused: this write and the rest on the user clock.
                        Err(_) => {
                            self.tx_stamps = false;
                            self.want_tx.store(false, Ordering::Relaxed);
                        }
                    }
                // A refusal leaves the option as it was: this write is then timed
                // on the user clock (or stamped needlessly, and the stamp dropped).
                } else if os::stamp_sends(tcp, self.numbering, want).is_ok() {
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
                        os::reregister(&mut self.socket, self.numbering)?;
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
                && let Some(wire) = os::sent_stamp(
                    &self.socket,
                    self.written
                        .wrapping_sub(self.numbered_from)
                        .wrapping_sub(1),
                )
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
    use std::time::Duration;
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

    #[tokio::test]
    async fn accepted_connections_start_with_the_listeners_options() {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        prepare(&socket);
        let listener = socket.listen(8).expect("listen");
        let inherited = pass_on(&listener);
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let mut client = client.expect("connect");
        let (server, _) = accepted.expect("accept");
        let (mut server, refused) = StampedTcp::accepted(server, inherited);
        if cfg!(target_os = "linux") {
            assert_eq!(
                inherited,
                Inherited {
                    stamps: true,
                    nodelay: true
                }
            );
            assert!(server.socket().nodelay().expect("nodelay"));
            assert_eq!((server.clock(), refused), (Clock::Kernel, None));
        }
        // Bytes written before the first stamped write are not in the numbering.
        server.write_all(b"101 and more").await.expect("write");
        client.read_exact(&mut [0u8; 12]).await.expect("read");

        let mut got = [0u8; 4];
        let (mut sent_by_kernel, mut stamped) = (0, 0);
        for _ in 0..5000 {
            server.stamp_sends();
            server.stamp_reads(true);
            server.write_all(b"ping").await.expect("write");
            let sent = server.sent().expect("a write was timed");
            sent_by_kernel += u32::from(sent.clock == Clock::Kernel);
            client.read_exact(&mut got).await.expect("client read");
            client.write_all(b"pong").await.expect("client write");
            server.read_exact(&mut got).await.expect("server read");
            if let Some(received) = server.last_rx() {
                assert!(sent.at <= received, "{sent:?} {received:?}");
                stamped += 1;
                if stamped == 3 {
                    break;
                }
            }
        }
        if server.clock() == Clock::Kernel {
            assert_eq!(stamped, 3, "the kernel stamped no read");
            assert!(sent_by_kernel >= 3, "{sent_by_kernel} sends stamped");
            // With no answer awaited, reads go without their stamp.
            server.stamp_reads(false);
            client.write_all(b"data").await.expect("client write");
            server.read_exact(&mut got).await.expect("server read");
            assert_eq!(server.last_rx(), None);
        }
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
