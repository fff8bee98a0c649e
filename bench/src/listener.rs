//! A lean client for the live feed: the load generator runs on the cores it measures, so each of its ten thousand
//! sockets must cost as little as possible per frame.
//!
//! The opening handshake is a plain HTTP/1.1 upgrade; after it the socket only reads. Server frames are unmasked,
//! so reading one is a length prefix and a slice: no per-frame allocation, no UTF-8 pass, no copy into a message.
//! Protocol pings are answered, so the server's reaper sees a live client. tokio-tungstenite, used by the
//! integration tests, checks the protocol itself; this client relies on that.
//!
//! Every read also returns the kernel's receive timestamp (`SO_TIMESTAMPNS`): when the frame arrived on the
//! socket, which is what the delivery latency measures. When this process then got round to reading it depends on
//! how busy it is with its other 9 999 sockets on the same two cores; the bench reports that too.

use std::{io::IoSliceMut, os::fd::AsRawFd as _, time::Duration};

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use nix::sys::{
    socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt},
    time::TimeSpec,
};
use socket2::SockRef;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _, Interest},
    net::TcpStream,
};

/// The handshake's response head may not exceed this.
const MAX_HEAD: usize = 8 * 1024;
/// Bytes read per call: a few frames of a few hundred bytes.
const READ_CHUNK: usize = 4 * 1024;

/// An open feed socket, after the handshake.
pub struct Listener {
    stream: TcpStream,
    /// Read bytes: `buffer[..filled]` are not yet taken as frames. Zeroed once, not before every read.
    buffer: Box<[u8; READ_CHUNK]>,
    filled: usize,
    /// Room for the kernel's receive timestamp.
    control: Vec<u8>,
}

/// One complete server frame.
pub enum Frame<'a> {
    Text(&'a [u8]),
    Ping(&'a [u8]),
    Close,
    Other,
}

impl Listener {
    /// Opens `ws://{host}{path}` with `token` as the bearer.
    pub async fn connect(host: &str, path: &str, token: &str, key: u64) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("Failed to connect to {host}"))?;
        stream.set_nodelay(true)?;
        // The kernel stamps each segment as it arrives; `fill` reads the stamp with the bytes.
        setsockopt(&stream, sockopt::ReceiveTimestampns, &true)?;
        let key = base64::engine::general_purpose::STANDARD.encode(key.to_le_bytes().repeat(2));
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::with_capacity(READ_CHUNK);
        let head_end = loop {
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            ensure!(head.len() < MAX_HEAD, "the handshake response is too long");
            ensure!(
                stream.read_buf(&mut head).await? > 0,
                "the server closed during the handshake"
            );
        };
        let status = std::str::from_utf8(&head[..head_end]).context("a non-UTF-8 response")?;
        ensure!(
            status.starts_with("HTTP/1.1 101"),
            "the upgrade was refused: {}",
            status.lines().next().unwrap_or_default()
        );
        let rest = &head[head_end..];
        ensure!(
            rest.len() <= READ_CHUNK,
            "too much data after the handshake"
        );
        let mut buffer = Box::new([0; READ_CHUNK]);
        buffer[..rest.len()].copy_from_slice(rest);
        Ok(Self {
            stream,
            filled: rest.len(),
            buffer,
            control: nix::cmsg_space!(TimeSpec),
        })
    }

    /// Waits for more bytes. Returns when the kernel received them (its timestamp, as time since the Unix epoch),
    /// or `None` when the server closed the connection.
    pub async fn fill(&mut self) -> anyhow::Result<Option<Duration>> {
        ensure!(
            self.filled < READ_CHUNK,
            "a frame larger than the read buffer"
        );
        let fd = self.stream.as_raw_fd();
        let (read, arrived) = loop {
            self.stream.readable().await?;
            let (buffer, control) = (&mut self.buffer[self.filled..], &mut self.control);
            let received = self.stream.try_io(Interest::READABLE, || {
                let mut iov = [IoSliceMut::new(buffer)];
                let message = recvmsg::<()>(fd, &mut iov, Some(control), MsgFlags::empty())?;
                let arrived = message.cmsgs()?.find_map(|c| match c {
                    ControlMessageOwned::ScmTimestampns(t) => Some(Duration::from(t)),
                    _ => None,
                });
                Ok((message.bytes, arrived))
            });
            match received {
                Ok(received) => break received,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        };
        if read == 0 {
            return Ok(None);
        }
        self.filled += read;
        // Acknowledge what was read now rather than by Linux's delayed-ACK timer (40 ms). A burst reaches every
        // socket of this one process at once, so their timers would all fire on these two cores in the middle of
        // the next order's burst; a client elsewhere runs its timers on its own machine. The server still receives
        // and processes every ACK. The option is not sticky, hence once per read.
        SockRef::from(&self.stream).set_tcp_quickack(true)?;
        // Now and then (about once in tens of thousands of handshakes) a read comes without its stamp: then the
        // time it was read stands in for it.
        Ok(Some(arrived.unwrap_or_else(crate::stats::wall_clock)))
    }

    /// Takes the frames read so far, calling `each` on every one, and answers pings. Returns `false` after a close.
    pub async fn drain(&mut self, mut each: impl FnMut(Frame<'_>)) -> anyhow::Result<bool> {
        let mut taken = 0;
        let mut open = true;
        let mut pongs = Vec::new();
        while let Some((frame, len)) = parse(&self.buffer[taken..self.filled])? {
            match frame {
                Frame::Ping(payload) => pongs.extend(pong(payload)),
                Frame::Close => open = false,
                _ => {}
            }
            each(frame);
            taken += len;
        }
        self.buffer.copy_within(taken..self.filled, 0);
        self.filled -= taken;
        if !pongs.is_empty() {
            self.stream.write_all(&pongs).await?;
        }
        Ok(open)
    }

    /// Reads frames until `text` says it has what it waited for (or the server closes).
    pub async fn until(&mut self, mut text: impl FnMut(&[u8]) -> bool) -> anyhow::Result<()> {
        loop {
            let mut found = false;
            let open = self
                .drain(|frame| {
                    if let Frame::Text(t) = frame {
                        found |= text(t);
                    }
                })
                .await?;
            if found {
                return Ok(());
            }
            ensure!(
                open && self.fill().await?.is_some(),
                "the server closed the socket"
            );
        }
    }
}

/// The first frame in `bytes` and its length, if complete.
fn parse(bytes: &[u8]) -> anyhow::Result<Option<(Frame<'_>, usize)>> {
    let [first, second, rest @ ..] = bytes else {
        return Ok(None);
    };
    ensure!(
        first & 0x80 != 0,
        "a fragmented frame (the server never fragments)"
    );
    ensure!(second & 0x80 == 0, "a masked server frame");
    let (len, header) = match second & 0x7f {
        126 => {
            let Some(b) = rest.get(..2) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = rest.get(..8) else {
                return Ok(None);
            };
            (u64::from_be_bytes(b.try_into()?), 10)
        }
        n => (u64::from(n), 2),
    };
    let total = header + usize::try_from(len)?;
    let Some(payload) = bytes.get(header..total) else {
        return Ok(None);
    };
    let frame = match first & 0x0f {
        0x1 => Frame::Text(payload),
        0x8 => Frame::Close,
        0x9 => Frame::Ping(payload),
        0x2 | 0xa => Frame::Other,
        opcode => bail!("unexpected opcode {opcode:#x}"),
    };
    Ok(Some((frame, total)))
}

/// A client pong echoing `payload` (control payloads are at most 125 bytes). Client frames must be masked; an
/// all-zero mask leaves the payload as it is.
fn pong(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![
        0x8a,
        0x80 | u8::try_from(payload.len()).unwrap_or(0),
        0,
        0,
        0,
        0,
    ];
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_long_and_partial_frames() {
        let mut bytes = vec![0x81, 5];
        bytes.extend_from_slice(b"hello");
        bytes.extend_from_slice(&[0x81, 126, 0x01, 0x00]);
        bytes.extend(std::iter::repeat_n(b'x', 256));
        bytes.extend_from_slice(&[0x89, 2, b'h', b'i']);

        let Some((Frame::Text(t), n)) = parse(&bytes).unwrap() else {
            panic!("text")
        };
        assert_eq!((t, n), (&b"hello"[..], 7));
        let Some((Frame::Text(t), m)) = parse(&bytes[n..]).unwrap() else {
            panic!("long")
        };
        assert_eq!((t.len(), m), (256, 260));
        let Some((Frame::Ping(p), _)) = parse(&bytes[n + m..]).unwrap() else {
            panic!("ping")
        };
        assert_eq!(p, b"hi");
        assert!(parse(&bytes[..n + 3]).unwrap().is_some());
        assert!(parse(&bytes[n..n + 100]).unwrap().is_none());
        assert!(parse(&[0x01, 0]).is_err(), "fragments are refused");
        assert!(
            parse(&[0x81, 0x80]).is_err(),
            "masked server frames are refused"
        );
        assert_eq!(pong(b"hi"), vec![0x8a, 0x82, 0, 0, 0, 0, b'h', b'i']);
    }
}
