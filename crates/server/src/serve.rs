//! Accepting connections with hygiene: a client that connects and sends nothing, or trickles
//! its request headers, or keeps an idle connection open, is closed after
//! `http.header_read_timeout_ms`; connections are capped in total and per client address
//! (refused at once when over: the socket is closed without a byte, so a flood of idle
//! sockets cannot use up the process's file descriptors); and at start the open-file limit is
//! raised to the hard limit.
//!
//! HTTP/1.1 (with upgrades, for the live feed's WebSocket) and HTTP/2 are served by hyper;
//! graceful shutdown stops accepting and lets open connections finish their requests.

use crate::net::IpNet;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How connections are admitted and timed out.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// Time a client gets to send a request's headers, counted from when the server starts
    /// waiting for them (so it is also the idle time allowed between requests).
    pub header_read_timeout: Duration,
    /// Open connections allowed in total; beyond, new ones are closed at once.
    pub max_connections: usize,
    /// Open connections allowed from one client address (an IPv6 /64); beyond, new ones are
    /// closed at once.
    /// Addresses of trusted proxies are exempt (their clients are many).
    pub max_connections_per_ip: usize,
    /// Trusted proxies (`http.trusted_proxies`).
    pub trusted_proxies: Vec<IpNet>,
}

/// Counts open connections, in total and by address.
#[derive(Default)]
struct Tally {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its place back.
struct Admitted {
    tally: Arc<Mutex<Tally>>,
    address: Option<IpAddr>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut tally = self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.total = tally.total.saturating_sub(1);
        if let Some(address) = self.address
            && let Some(count) = tally.by_address.get_mut(&address)
        {
            *count -= 1;
            if *count == 0 {
                tally.by_address.remove(&address);
            }
        }
        metrics::gauge!(crate::metric_names::HTTP_CONNECTIONS_OPEN).set(tally.total as f64);
    }
}

/// The address a connection counts against: an IPv4 address, or the /64 of an IPv6 one
/// (what one subscriber usually holds).
fn tally_key(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))
        }
        v4 => v4,
    }
}

fn admit(tally: &Arc<Mutex<Tally>>, settings: &ServeSettings, peer: IpAddr) -> Option<Admitted> {
    let peer = peer.to_canonical();
    let per_address = !settings.trusted_proxies.iter().any(|proxy| proxy.contains(peer));
    let peer = tally_key(peer);
    let mut counts = tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let from_peer = counts.by_address.get(&peer).copied().unwrap_or(0);
    let reason = if counts.total >= settings.max_connections {
        "total"
    } else if per_address && from_peer >= settings.max_connections_per_ip {
        "per_ip"
    } else {
        counts.total += 1;
        if per_address {
            *counts.by_address.entry(peer).or_insert(0) += 1;
        }
        metrics::gauge!(crate::metric_names::HTTP_CONNECTIONS_OPEN).set(counts.total as f64);
        return Some(Admitted { tally: tally.clone(), address: per_address.then_some(peer) });
    };
    metrics::counter!(crate::metric_names::HTTP_CONNECTIONS_REFUSED_TOTAL, "limit" => reason)
        .increment(1);
    None
}

/// A socket that holds its connection's place in the tally until it is dropped.
struct Counted {
    stream: tokio::net::TcpStream,
    _admitted: Admitted,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Raises the soft open-file limit to the hard limit (logged), so the connection caps, not
/// the kernel, decide when connections are refused. Returns the limit now in force.
pub fn raise_open_file_limit() -> Option<u64> {
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    match rlimit::increase_nofile_limit(hard) {
        Ok(now) if now > soft => {
            tracing::info!(from = soft, to = now, "raised the open-file limit");
            Some(now)
        }
        Ok(now) => Some(now),
        Err(error) => {
            tracing::warn!(%error, soft, hard, "could not raise the open-file limit");
            Some(soft)
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then stops accepting and waits for
/// open connections to finish (the caller bounds that wait).
///
/// # Errors
///
/// None today: accept errors (such as running out of file descriptors) are logged and
/// retried after a short pause.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServeSettings,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopping| *stopping) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = admit(&tally, &settings, peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let timeout = settings.header_read_timeout;
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // Telling HTTP/1 from HTTP/2 waits for the first bytes, which the header timeout
            // does not cover: a client that sends nothing is closed here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return,
            }
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    tower::ServiceExt::oneshot(router.clone(), request.map(axum::body::Body::new))
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(timeout);
            // HTTP/2 has no header timeout: idle connections are pinged, and one that does not
            // answer within the timeout is closed.
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(timeout)
                .keep_alive_timeout(timeout)
                .enable_connect_protocol();
            // The connection's place travels with its socket, so a connection upgraded to a
            // WebSocket (served by another task) still counts until it closes.
            let io = TokioIo::new(Counted { stream, _admitted: admitted });
            let connection = builder.serve_connection_with_upgrades(io, service).into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::trace!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_total_and_per_address_except_for_proxies() {
        let settings = ServeSettings {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 4,
            max_connections_per_ip: 2,
            trusted_proxies: vec![IpNet::parse("10.0.0.1").expect("proxy")],
        };
        let tally = Arc::new(Mutex::new(Tally::default()));
        let a: IpAddr = "203.0.113.1".parse().expect("address");
        let b: IpAddr = "203.0.113.2".parse().expect("address");
        let proxy: IpAddr = "10.0.0.1".parse().expect("address");
        let first = admit(&tally, &settings, a).expect("first");
        let _second = admit(&tally, &settings, a).expect("second");
        assert!(admit(&tally, &settings, a).is_none(), "a third from one address");
        let _other = admit(&tally, &settings, b).expect("another address");
        let _proxied = admit(&tally, &settings, proxy).expect("a proxy");
        assert!(admit(&tally, &settings, proxy).is_none(), "the total is reached");
        drop(first);
        assert!(admit(&tally, &settings, a).is_some(), "a place was given back");
    }
}
