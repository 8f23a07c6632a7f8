//! Accepting connections and serving HTTP/1.1 on each, with a deadline for request headers.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout never runs: a client
//! that opens connections and sends each request head a byte at a time, or never finishes it
//! (slow loris), holds a socket and a task per connection for as long as it likes, until the
//! process runs out of file descriptors. This is `axum::serve`'s loop with that timeout on:
//! a connection whose next request head is not complete within the header timeout, counted
//! from when Keel starts waiting for it (so also while a kept-alive connection idles), is
//! closed. How long a request may take once its head is in is [`super::request_timeout`]'s.
//!
//! Shutdown works as with `axum::serve`: stop accepting, let every connection finish the
//! request it is serving, then return.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long accepting pauses after a failure other than a dropped connection (such as running
/// out of file descriptors), so the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes and every connection has finished
/// its request in flight. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    // Each connection holds a receiver of each channel: dropping the `stop` sender tells it
    // to finish up, and the last `open` receiver dropped tells this loop that all are done.
    let (stop_tx, stop_rx) = watch::channel(());
    let (open_tx, open_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = router.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let (mut stop, open) = (stop_rx.clone(), open_rx.clone());
        tokio::spawn(async move {
            // Upgrades stay possible (WebSocket) once a request's head is in.
            let mut connection = pin!(connection.with_upgrades());
            let served = tokio::select! {
                served = connection.as_mut() => served,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = served {
                // Clients that hang up or run out of time are routine, and a flood of them
                // (the attack the header timeout answers) must not flood the log.
                tracing::debug!(error = %err, "connection closed with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    drop(stop_tx);
    open_tx.closed().await;
}

/// Logs a failed `accept` and, unless it only concerned one connection, pauses.
async fn pause_after(err: io::Error) {
    let one_connection = matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    );
    if one_connection {
        return;
    }
    tracing::error!(error = %err, "accepting connections failed; pausing before the next attempt");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}
