//! The local server's connection handling. `axum::serve` runs hyper
//! without a timer, which switches off hyper's header read timeout: a
//! client that sends half a request head holds its connection (and a file
//! descriptor) for ever, and a few hundred of them starve everyone else.
//! Here every connection gets a deadline for each request head (which in
//! hyper also closes a keep-alive connection left idle that long), request
//! bodies get one too, and connections are bounded, so slow or silent
//! clients cannot take the server from the rest.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{debug, warn};

/// How long the server waits on a slow or silent client.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// For a request's head to arrive whole, and for the next request on
    /// an idle keep-alive connection to begin.
    pub header_timeout: Duration,
    /// For a request's body to arrive whole.
    pub body_timeout: Duration,
    /// Connections held at once; further ones wait in the listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// After a shutdown signal, how long open requests may take to finish.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown` completes, then
/// lets open requests finish for at most `limits.drain`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts, resets and malformed requests: the client's doing.
                debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        warn!("requests still open after the drain time were cut off");
    }
    Ok(())
}

/// A failed accept is about one connection (the client gave up) or about
/// the process (out of file descriptors): the latter would fail again at
/// once, so wait a moment first, as `axum::serve` does.
async fn accept_failed(e: io::Error) {
    let per_connection = matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    );
    if !per_connection {
        warn!(error = %e, "accept failed; pausing");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
