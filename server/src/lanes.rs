//! Two lanes for connections: the live feed's sockets run on a runtime of their own, everything else on the main
//! one. After a restart or a deploy ten thousand clients reconnect within a second; on one runtime every request
//! then waited for its turn behind their handshakes and catch-ups (order creation's p99 of 200–600 ms during
//! `make bench`'s reconnect storm). A runtime's tasks take turns in order, so a request waits behind every task ready
//! to run before it; on its own lane it waits only behind other requests, and the feed's threads share the cores
//! with the main lane's as the kernel sees fit.
//!
//! A connection's lane is chosen by its first request line, peeked before anything reads it: `GET /ws/` goes to the
//! feed's runtime, everything else (and whatever cannot be told from its first bytes) stays on the main one. Both
//! lanes serve the same router, so a lane decides where a connection runs, never what it may do.

use std::{
    future::{Future, IntoFuture as _},
    io,
    net::SocketAddr,
    time::Duration,
};

use axum::{
    Router,
    serve::{Listener, ListenerExt as _},
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

/// The first bytes of a request that opens the live feed.
const FEED_REQUEST: &[u8] = b"GET /ws/";
/// How long a new connection may take to send its first bytes before it goes to the main lane anyway (where the
/// HTTP server's own limits apply to it).
const FIRST_BYTES: Duration = Duration::from_secs(5);
/// Connections accepted but not yet taken by their lane's server.
const QUEUED: usize = 1024;

/// A connection on its way to a lane: the feed's are moved to its runtime as plain sockets.
enum Incoming {
    Here(TcpStream),
    Moved(std::net::TcpStream),
}

/// The connections of one lane, as its server accepts them.
struct Lane {
    queue: mpsc::Receiver<(Incoming, SocketAddr)>,
    local: SocketAddr,
}

impl Listener for Lane {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((incoming, peer)) = self.queue.recv().await else {
                // The accepting loop stopped: shutting down, and graceful shutdown ends this server.
                return std::future::pending().await;
            };
            let tcp = match incoming {
                Incoming::Here(tcp) => Ok(tcp),
                // Registered with this runtime's reactor, on which it is served.
                Incoming::Moved(tcp) => TcpStream::from_std(tcp),
            };
            match tcp {
                Ok(tcp) => return (tcp, peer),
                Err(e) => tracing::warn!(error = %e, "Failed to take over a feed connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The feed's runtime; shut down without waiting when dropped (from within the main runtime, where a blocking
/// shutdown is not allowed).
struct FeedRuntime(Option<tokio::runtime::Runtime>);

impl FeedRuntime {
    /// The runtime, with as many threads as there are cores, and a handle to spawn on it.
    fn start() -> io::Result<(Self, tokio::runtime::Handle)> {
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("feed")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok((Self(Some(runtime)), handle))
    }
}

impl Drop for FeedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves `router` on `listener` in two lanes until `shutdown` resolves, then finishes the requests in flight on
/// both.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let (runtime, feed_runtime) = FeedRuntime::start()?;
    let (stop, stopping) = watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    };
    let (main_queue, main_lane) = mpsc::channel(QUEUED);
    let (feed_queue, feed_lane) = mpsc::channel(QUEUED);
    let lane_server = |queue, router: Router, stopped| {
        axum::serve(
            Lane { queue, local }.tap_io(|_| {}),
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped)
        .into_future()
    };
    let feed = feed_runtime.spawn(lane_server(feed_lane, router.clone(), stopped()));
    let main = lane_server(main_lane, router, stopped());
    let accepting = accept(listener, main_queue, feed_queue, stopped());
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let (main, feed, (), ()) = tokio::join!(main, feed, accepting, signal);
    main?;
    feed.map_err(io::Error::other)??;
    drop(runtime);
    Ok(())
}

/// Accepts connections and hands each to its lane, until `stopped`.
async fn accept(
    mut listener: TcpListener,
    main: mpsc::Sender<(Incoming, SocketAddr)>,
    feed: mpsc::Sender<(Incoming, SocketAddr)>,
    stopped: impl Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stopped => return,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        // Small frames and responses go out at once rather than waiting on Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "Failed to set TCP_NODELAY on a connection");
        }
        let (main, feed) = (main.clone(), feed.clone());
        tokio::spawn(async move {
            let to_feed = opens_feed(&tcp).await;
            let lane = if to_feed { &feed } else { &main };
            let incoming = if to_feed {
                match tcp.into_std() {
                    Ok(tcp) => Incoming::Moved(tcp),
                    Err(e) => {
                        tracing::warn!(error = %e, "Failed to hand a connection to the feed's runtime");
                        return;
                    }
                }
            } else {
                Incoming::Here(tcp)
            };
            // Fails only when shutting down: the connection is then closed.
            let _ = lane.send((incoming, peer)).await;
        });
    }
}

/// Whether the connection's first request opens the live feed, by its first bytes (peeked, so that the HTTP server
/// still reads them). A connection that sends nothing for a while, or too little to tell, is not the feed's.
async fn opens_feed(tcp: &TcpStream) -> bool {
    let mut first = [0u8; FEED_REQUEST.len()];
    match tokio::time::timeout(FIRST_BYTES, tcp.peek(&mut first)).await {
        Ok(Ok(n)) => n == FEED_REQUEST.len() && first == FEED_REQUEST,
        _ => false,
    }
}
