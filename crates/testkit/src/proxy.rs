//! A loopback TCP proxy that a test can cut, to make a backend unreachable for the app under
//! test without stopping the shared test server.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// A loopback TCP proxy forwarding every connection to one target, until [`TcpProxy::cut`].
///
/// Point the app under test at [`TcpProxy::addr`] instead of the backend; cutting the proxy
/// then looks, to the app, like the backend going away, and [`TcpProxy::start_on`] at the
/// same address brings it back.
pub struct TcpProxy {
    /// The address the proxy listens on (127.0.0.1, a port from 20000 to 31999 when started
    /// with [`TcpProxy::start`]); connect here to reach the target.
    pub addr: SocketAddr,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a loopback port below Linux's ephemeral range (32768 and up): a port the
    /// OS handed out for `:0` can be taken as the source port of any outgoing connection
    /// while the proxy is cut, and then it could not come back on it.
    pub async fn start(target: SocketAddr) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seed = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.subsec_nanos());
        for _ in 0..200 {
            let step = NEXT.fetch_add(7_919, std::sync::atomic::Ordering::Relaxed);
            let port = 20_000 + (seed.wrapping_add(step) % 12_000) as u16;
            let listen = SocketAddr::from(([127, 0, 0, 1], port));
            if let Ok(listener) = TcpListener::bind(listen).await {
                return Self::serve(listener, target);
            }
        }
        panic!("no free loopback port between 20000 and 32000 for the test proxy");
    }

    /// A proxy listening on `listen` (e.g. the address of one that was cut, to bring the
    /// backend back where the app expects it). Retries for up to 5 s while the port is busy.
    pub async fn start_on(listen: SocketAddr, target: SocketAddr) -> Self {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(listen).await {
                Ok(listener) => break listener,
                Err(error) if std::time::Instant::now() >= deadline => {
                    panic!("cannot listen on {listen} again: {error}")
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        Self::serve(listener, target)
    }

    fn serve(listener: TcpListener, target: SocketAddr) -> Self {
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(Notify::new());
        let cut_signal = cut.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    () = cut_signal.notified() => break,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            }
                        });
                    }
                }
            }
            // Dropping the listener refuses new connections; aborting the set closes the
            // established ones, as a stopped server would.
            connections.abort_all();
        });
        Self { addr, cut, task }
    }

    /// Closes every connection and stops listening.
    pub async fn cut(self) {
        self.cut.notify_one();
        let _ = self.task.await;
    }
}
