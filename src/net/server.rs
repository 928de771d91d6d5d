//! The one HTTP/1.1 accept loop the servers in this crate share (the dev API server, the built-in
//! repository, the emulators, metrics): each connection on its own task, each request to
//! `handler`, within bounds — a header deadline, an idle deadline, a connection cap with
//! back-pressure, and a pause when accepting fails.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub type Body = BoxBody<Bytes, Infallible>;

/// A whole response: `status`, a `Content-Type`, and `body`.
pub fn respond(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    use http_body_util::BodyExt;
    let mut r = Response::new(http_body_util::Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// What one server lets its clients hold: a slow or silent client gets a bounded share.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a connection may pass with no byte read or written (a watch with events or
    /// bookmarks is never idle).
    pub idle_timeout: Duration,
    /// Connections served at once; the next waits in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_connections: 1024,
        }
    }
}

/// Serves `listener` until the runtime stops, within [`Bounds::default`].
pub fn spawn<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    spawn_bounded(listener, handler, Bounds::default());
}

/// Serves `listener` until the runtime stops, within `bounds`.
pub fn spawn_bounded<F, Fut>(listener: TcpListener, handler: F, bounds: Bounds)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    tokio::spawn(async move {
        loop {
            // Back-pressure: no accept while every slot is taken.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors (or another transient failure): retrying at once
                // would spin; give closing connections a moment.
                Err(_) => {
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let activity = Arc::new(AtomicU64::new(0));
                let started = Instant::now();
                let io = Watched {
                    inner: stream,
                    activity: activity.clone(),
                    started,
                };
                let svc = hyper::service::service_fn(handler);
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(bounds.header_timeout);
                let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = idle(activity, started, bounds.idle_timeout) => {}
                }
            });
        }
    });
}

const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Resolves once the connection has seen no byte for `limit`.
async fn idle(activity: Arc<AtomicU64>, started: Instant, limit: Duration) {
    loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let quiet = started.elapsed().saturating_sub(last);
        if quiet >= limit {
            return;
        }
        tokio::time::sleep(limit - quiet).await;
    }
}

/// A stream that notes when it last moved a byte (milliseconds since `started`).
struct Watched {
    inner: TcpStream,
    activity: Arc<AtomicU64>,
    started: Instant,
}

impl Watched {
    fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(now, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Decodes `%XX` escapes in a URL path (a `+` stays a `+`).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Decodes a query-string value, where `+` is a space (and `%2B` a plus).
pub fn percent_decode_query(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_query_values_decode_as_browsers_encode_them() {
        assert_eq!(percent_decode("a%20b+c%2Fd"), "a b+c/d");
        assert_eq!(percent_decode_query("a%20b+c%2Bd"), "a b c+d");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
        assert_eq!(
            percent_decode("100%zz%"),
            "100%zz%",
            "a bad escape stays as written"
        );
    }

    #[tokio::test]
    async fn silent_and_slow_clients_are_cut_off_and_connections_are_capped() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let bounds = Bounds {
            header_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            max_connections: 2,
        };
        spawn_bounded(
            listener,
            |_req| async { Ok(respond(http::StatusCode::OK, "text/plain", "ok")) },
            bounds,
        );
        let closed = |mut s: tokio::net::TcpStream| async move {
            let mut buf = [0u8; 64];
            matches!(
                tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await,
                Ok(Ok(0) | Err(_))
            )
        };
        // A client that never sends a byte, and one that stops halfway through its headers.
        let silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        // Both slots are taken: a third connection is not served until one is freed.
        let mut third = tokio::net::TcpStream::connect(addr).await.expect("connect");
        third
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        let early =
            tokio::time::timeout(Duration::from_millis(150), third.read_to_end(&mut answer)).await;
        assert!(early.is_err(), "served past the cap: {answer:?}");
        assert!(closed(silent).await, "an idle connection is closed");
        assert!(closed(slow).await, "a header that never ends is cut off");
        // Slots freed: the waiting request is answered.
        tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
            .await
            .expect("answered")
            .expect("read");
        assert!(
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
            "{answer:?}"
        );
    }

    #[test]
    fn paths_and_queries_decode_differently() {
        assert_eq!(percent_decode("@types%2fnode"), "@types/node");
        assert_eq!(percent_decode("a+b%zz"), "a+b%zz");
        assert_eq!(percent_decode_query("a+b%3Dc"), "a b=c");
    }
}
