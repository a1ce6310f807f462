//! Linux: `SO_TIMESTAMPING` (or `SO_TIMESTAMPNS` for receive stamps alone), and
//! `recvmsg` through tokio's readiness of the socket.

use super::time::{NONE, Numbering, WireTime};
use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll, ready};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, MsgFlags, TimestampingFlag, recvmsg, setsockopt, sockopt};
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
/// stamps without the packet (`OPT_TSONLY`), and numbered by the byte (`OPT_ID`) as
/// `numbering` says.
fn base(numbering: Numbering) -> TimestampingFlag {
    let always = TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
        | TimestampingFlag::SOF_TIMESTAMPING_OPT_TSONLY;
    match numbering {
        Numbering::Unset => always,
        Numbering::FromUnacked => always | TimestampingFlag::SOF_TIMESTAMPING_OPT_ID,
        Numbering::FromNext => {
            always
                | TimestampingFlag::SOF_TIMESTAMPING_OPT_ID
                | TimestampingFlag::from_bits_retain(libc::SOF_TIMESTAMPING_OPT_ID_TCP)
        }
    }
}

/// Asks for receive stamps and readies transmit stamps; `Ok(false)` when only
/// receive stamps could be had. The `Err` is why there will be none.
///
/// `OPT_ID` numbers bytes from the first one not yet acknowledged, so this must
/// come before the first write (or when all written has been acknowledged): byte
/// `n` written through [`super::StampedTcp`] is then number `n`.
pub(super) fn enable(tcp: &TcpStream) -> io::Result<bool> {
    if setsockopt(tcp, sockopt::Timestamping, &base(Numbering::FromUnacked)).is_ok() {
        return Ok(true);
    }
    setsockopt(tcp, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)?;
    Ok(false)
}

/// Asks for receive stamps on a socket not yet connected, or listening (whose
/// connections inherit it, with `OPT_TSONLY`: all of [`base`] but the numbering,
/// which a listener may not have).
pub(super) fn prepare(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
    setsockopt(socket, sockopt::Timestamping, &base(Numbering::Unset)).map_err(io::Error::from)
}

/// Whether `listener` passes receive stamps on to the connections it accepts, and
/// turns `TCP_NODELAY` on for it, which Linux passes on too. One system call each,
/// once per listener, saves them on every connection.
pub(super) fn pass_on(listener: &impl std::os::fd::AsFd) -> (bool, bool) {
    let stamps = socket::getsockopt(listener, sockopt::Timestamping)
        .is_ok_and(|flags| flags.contains(base(Numbering::Unset)));
    let nodelay = setsockopt(listener, sockopt::TcpNoDelay, &true).is_ok();
    (stamps, nodelay)
}

/// Numbers the bytes written from now on, from 0, and turns transmit stamps on: for
/// a socket that did not number them from the start (accepted with what its
/// listener passed on). `OPT_ID_TCP` (Linux 6.2) counts from the next byte written;
/// without it the count starts at the first byte not yet acknowledged, which is the
/// next one written only when the peer has acknowledged everything so far.
pub(super) fn number_sends(tcp: &TcpStream) -> io::Result<Numbering> {
    let tx = TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE;
    if setsockopt(
        tcp,
        sockopt::Timestamping,
        &(base(Numbering::FromNext) | tx),
    )
    .is_ok()
    {
        return Ok(Numbering::FromNext);
    }
    setsockopt(
        tcp,
        sockopt::Timestamping,
        &(base(Numbering::FromUnacked) | tx),
    )?;
    Ok(Numbering::FromUnacked)
}

/// Turns transmit stamps on for the writes that follow, or off, keeping the
/// socket's numbering (changing it would restart the count).
pub(super) fn stamp_sends(tcp: &TcpStream, numbering: Numbering, on: bool) -> io::Result<()> {
    let flags = if on {
        base(numbering) | TimestampingFlag::SOF_TIMESTAMPING_TX_SOFTWARE
    } else {
        base(numbering)
    };
    setsockopt(tcp, sockopt::Timestamping, &flags).map_err(io::Error::from)
}

/// The control messages the kernel wrote into `control` (zeroed before the call, so
/// a header of length zero ends them), as `(level, type, data)`: the walk of
/// `CMSG_FIRSTHDR` and `CMSG_NXTHDR`, in safe code. nix's walk decodes every
/// message into an owned value of its own, which cost a stamped read a few hundred
/// instructions; a stamp needs two fields.
fn control_messages(control: &[u8]) -> impl Iterator<Item = (i32, i32, &[u8])> {
    // `cmsg_len` is the kernel's `size_t`; data and headers are aligned to it.
    const LEN: usize = size_of::<usize>();
    const HEADER: usize = size_of::<libc::cmsghdr>();
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = control.get(at..at.checked_add(HEADER)?)?;
        let len = usize::from_ne_bytes(header.get(..LEN)?.try_into().ok()?);
        let level = i32::from_ne_bytes(header.get(LEN..LEN + 4)?.try_into().ok()?);
        let kind = i32::from_ne_bytes(header.get(LEN + 4..LEN + 8)?.try_into().ok()?);
        let data = control.get(at + HEADER..at.checked_add(len)?)?;
        at += len.max(HEADER).div_ceil(LEN) * LEN;
        Some((level, kind, data))
    })
}

/// The first `timespec` of a stamp's data, in nanoseconds (0 if it is cut short).
fn nanos(data: &[u8]) -> u64 {
    const SECS: usize = std::mem::offset_of!(libc::timespec, tv_sec);
    const NANOS: usize = std::mem::offset_of!(libc::timespec, tv_nsec);
    let field = |at: usize, width: usize| data.get(at..at + width);
    let secs = field(SECS, size_of::<libc::time_t>())
        .and_then(|b| b.try_into().ok())
        .map(libc::time_t::from_ne_bytes);
    let nanos = field(NANOS, size_of::<libc::c_long>())
        .and_then(|b| b.try_into().ok())
        .map(libc::c_long::from_ne_bytes);
    match (secs, nanos) {
        (Some(secs), Some(nanos)) => u64::try_from(secs)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(nanos).unwrap_or(0)),
        _ => NONE,
    }
}

/// A `sock_extended_err`'s `u32` field at `at`.
fn extended_err_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the error queue up to the transmit stamp of the write whose last byte is
/// number `key` (bounded), and returns that stamp in nanoseconds, if it was there;
/// older, stale stamps before it are read and dropped.
pub(super) fn sent_stamp(tcp: &TcpStream, key: u32) -> Option<u64> {
    read_errqueue(tcp, Some(key))
}

/// Reads the error queue (at most [`ERRQUEUE_READS`] messages) until it is empty or,
/// with `key`, until that write's stamp, which it returns.
fn read_errqueue(tcp: &TcpStream, key: Option<u32>) -> Option<u64> {
    for _ in 0..ERRQUEUE_READS {
        let mut control = [0u8; ERRQUEUE_CONTROL_BYTES];
        // OPT_TSONLY: the message carries no bytes, only its control messages.
        let mut iov: [IoSliceMut<'_>; 0] = [];
        match recvmsg::<()>(
            tcp.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
        let (mut at, mut id) = (None, None);
        for (level, kind, data) in control_messages(&control) {
            match (level, kind) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => at = Some(nanos(data)),
                (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => {
                    let origin = data.get(std::mem::offset_of!(libc::sock_extended_err, ee_origin));
                    let info = extended_err_u32(
                        data,
                        std::mem::offset_of!(libc::sock_extended_err, ee_info),
                    );
                    if origin == Some(&libc::SO_EE_ORIGIN_TIMESTAMPING)
                        && info == Some(SCM_TSTAMP_SND)
                    {
                        id = extended_err_u32(
                            data,
                            std::mem::offset_of!(libc::sock_extended_err, ee_data),
                        );
                    }
                }
                _ => {}
            }
        }
        if let (Some(at), Some(id)) = (at, id)
            && Some(id) == key
            && at != NONE
        {
            // The queue is in write order and `key` is the last byte written, so
            // nothing newer can follow: reading on would only meet `EAGAIN`.
            return Some(at);
        }
    }
    None
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
        return Poll::Ready(Ok(NONE));
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
            let bytes = recvmsg::<()>(
                tcp.as_raw_fd(),
                &mut iov,
                Some(&mut control),
                MsgFlags::empty(),
            )?
            .bytes;
            let mut stamp = NONE;
            for (level, kind, data) in control_messages(&control) {
                if level == libc::SOL_SOCKET
                    && (kind == libc::SCM_TIMESTAMPING || kind == libc::SCM_TIMESTAMPNS)
                {
                    stamp = nanos(data);
                }
            }
            short(&mut done, bytes, len, (bytes, stamp))
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

/// Reads into `buf` without asking for the stamp: `recv` through tokio's own read,
/// with no control messages for the kernel to fill or for us to walk.
pub(super) fn poll_read_unstamped(
    tcp: &mut TcpStream,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    tokio::io::AsyncRead::poll_read(std::pin::Pin::new(tcp), cx, buf)
}

/// Gives up transmit stamps on `tcp` and registers it with tokio afresh, through a
/// duplicate of its descriptor: tokio's registration keeps a "write closed" it
/// took from the error queue's `EPOLLERR` for good, and would say writable when
/// the socket is full. Stamps that came late (the peer's window was shut, so the
/// segment left long after its write) are read first, so that the new
/// registration does not see the error queue at once.
pub(super) fn reregister(tcp: &mut TcpStream, numbering: Numbering) -> io::Result<()> {
    // Best effort: a refusal leaves stamps on, and this may happen again.
    let _ = setsockopt(&*tcp, sockopt::Timestamping, &base(numbering));
    read_errqueue(tcp, None);
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
            let at = WireTime::now().as_nanos();
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
