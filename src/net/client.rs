//! The HTTP client the pipeline reaches registries with: only the hosts the registry configuration
//! allows (redirects included), connect and read timeouts, and retries with exponential back-off
//! and full jitter on connection errors, timeouts, 5xx and 429 (honouring `Retry-After`).

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use url::Url;

/// Timeouts and retry budget.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    /// The longest wait for response headers or for the next piece of a body.
    pub read_timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A server asking for a longer `Retry-After` than this is not waited for.
    pub max_retry_after: Duration,
    /// The longest a whole document (an index page, an API answer) may take, retries included.
    pub document_deadline: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_attempts: 4,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            document_deadline: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "refusing to download {url}: host {host:?} is not one the registry configuration allows (allowed: {allowed}); add it to the registry's allowed hosts if it is a trusted mirror"
    )]
    HostNotAllowed {
        url: String,
        host: String,
        allowed: String,
    },
    #[error("{url} answered {status}{}", retry_hint(*.status))]
    Status { url: String, status: StatusCode },
    #[error("{url} did not answer within {secs}s ({what}); the registry may be down or slow")]
    Timeout {
        url: String,
        what: &'static str,
        secs: u64,
    },
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url} redirected more than {0} times", MAX_REDIRECTS)]
    TooManyRedirects { url: String },
    #[error("{url} sent an invalid redirect: {reason}")]
    BadRedirect { url: String, reason: String },
    #[error("{url} is larger than the {limit}-byte limit{}", .declared.map(|d| format!(" (it declares {d} bytes)")).unwrap_or_default())]
    TooLarge {
        url: String,
        limit: u64,
        declared: Option<u64>,
    },
    #[error("reading the response of {url} failed: {reason}")]
    Body { url: String, reason: String },
}

fn retry_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => " (not found: check the package name and version)",
        401 | 403 => " (access denied: check the registry credentials or mirror configuration)",
        429 => " (rate limited; retried with back-off)",
        s if s >= 500 => " (server error; retried with back-off)",
        _ => "",
    }
}

const MAX_REDIRECTS: usize = 5;

impl HttpError {
    pub fn retryable(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            HttpError::Timeout { .. } | HttpError::Connect { .. } | HttpError::Body { .. } => true,
            _ => false,
        }
    }
}

/// An HTTP error, with the wait the server asked for when it said how long (429, 503).
#[derive(Debug)]
pub struct Failure {
    pub error: HttpError,
    pub retry_after: Option<Duration>,
}

impl From<HttpError> for Failure {
    fn from(error: HttpError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    allowed_hosts: Arc<Vec<String>>,
    pub config: HttpConfig,
}

impl HttpClient {
    /// A client that may reach only `allowed_hosts` (`host` or `host:port`).
    pub fn new(allowed_hosts: Vec<String>, config: HttpConfig) -> Result<HttpClient, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(config.connect_timeout));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let tls = tls.with_root_certificates(roots).with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(HttpClient {
            client,
            allowed_hosts: Arc::new(allowed_hosts),
            config,
        })
    }

    fn check_host(&self, url: &Url) -> Result<(), HttpError> {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let with_port = match url.port_or_known_default() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let allowed = self.allowed_hosts.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == with_port || (a == host && url.port().is_none())
        });
        if allowed && matches!(url.scheme(), "http" | "https") {
            Ok(())
        } else {
            Err(HttpError::HostNotAllowed {
                url: url.to_string(),
                host: with_port,
                allowed: self.allowed_hosts.join(", "),
            })
        }
    }

    /// One request to an allowed host, within the read timeout for the response headers.
    async fn request_once(
        &self,
        method: Method,
        url: &Url,
        headers: &[(header::HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Response<Incoming>, Failure> {
        self.check_host(url)?;
        let mut req = Request::builder().method(method).uri(url.as_str());
        for (k, v) in headers {
            req = req.header(k, v.clone());
        }
        let req = req
            .header(
                header::USER_AGENT,
                concat!("airlock/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| HttpError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        match tokio::time::timeout(self.config.read_timeout, self.client.request(req)).await {
            Err(_) => Err(HttpError::Timeout {
                url: url.to_string(),
                what: "waiting for response headers",
                secs: self.config.read_timeout.as_secs(),
            }
            .into()),
            Ok(Err(e)) => Err(HttpError::Connect {
                url: url.to_string(),
                reason: error_chain(&e),
            }
            .into()),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// GET `url`, following redirects to allowed hosts; a non-2xx answer is an error. One
    /// attempt: see [`HttpClient::retrying`].
    pub async fn get(&self, url: &Url, accept: &str) -> Result<Response<Incoming>, Failure> {
        self.send(url, accept, None, &[]).await
    }

    /// GET with further request headers (conditions such as `If-None-Match`); a `304 Not
    /// Modified` answer is returned, not followed as a redirect.
    pub async fn get_with(
        &self,
        url: &Url,
        accept: &str,
        extra: &[(header::HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>, Failure> {
        self.send(url, accept, None, extra).await
    }

    /// GET, or POST of a JSON body; POSTs are not redirected (a query API has no reason to).
    async fn send(
        &self,
        url: &Url,
        accept: &str,
        json_body: Option<&Bytes>,
        extra: &[(header::HeaderName, HeaderValue)],
    ) -> Result<Response<Incoming>, Failure> {
        let mut url = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let (method, mut headers) = match json_body {
                None => (Method::GET, Vec::new()),
                Some(_) => (
                    Method::POST,
                    vec![(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                ),
            };
            if let Ok(v) = HeaderValue::from_str(accept) {
                headers.push((header::ACCEPT, v));
            }
            headers.extend(extra.iter().cloned());
            let resp = self
                .request_once(
                    method,
                    &url,
                    &headers,
                    json_body.cloned().unwrap_or_default(),
                )
                .await?;
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED && !extra.is_empty() {
                return Ok(resp);
            }
            if status.is_redirection() && json_body.is_none() {
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| HttpError::BadRedirect {
                        url: url.to_string(),
                        reason: "no Location header".into(),
                    })?;
                url = url.join(location).map_err(|e| HttpError::BadRedirect {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(status_failure(&resp, &url));
            }
            return Ok(resp);
        }
        Err(HttpError::TooManyRedirects {
            url: url.to_string(),
        }
        .into())
    }

    /// Runs `attempt` until it succeeds, fails in a way retrying cannot help, or the attempts
    /// run out; waits between attempts with exponential back-off and full jitter, or as long as
    /// the server's `Retry-After` asks (within `max_retry_after`).
    pub async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, HttpError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(f) if !f.error.retryable() || n >= self.config.max_attempts => {
                    return Err(f.error);
                }
                Err(f) => {
                    let wait = match f.retry_after {
                        Some(ra) if ra <= self.config.max_retry_after => ra,
                        Some(_) => return Err(f.error),
                        None => self.backoff(n),
                    };
                    tracing::debug!(error = %f.error, attempt = n, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.max_backoff);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        let fraction = (h.finish() % 1000) as u32;
        exp * fraction / 1000
    }

    /// GET a document of at most `limit` bytes, with retries.
    pub async fn get_bytes(&self, url: &Url, accept: &str, limit: u64) -> Result<Bytes, HttpError> {
        self.read_bytes(url, accept, None, limit).await
    }

    /// POST a JSON document and read an answer of at most `limit` bytes, with retries.
    pub async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
        limit: u64,
    ) -> Result<Bytes, HttpError> {
        let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        self.read_bytes(url, "application/json", Some(&body), limit)
            .await
    }

    async fn read_bytes(
        &self,
        url: &Url,
        accept: &str,
        json_body: Option<&Bytes>,
        limit: u64,
    ) -> Result<Bytes, HttpError> {
        let deadline = self.config.document_deadline;
        let read = self.retrying(|| async {
            let resp = self.send(url, accept, json_body, &[]).await?;
            let mut body = resp.into_body();
            let mut out = Vec::new();
            while let Some(chunk) = self.next_chunk(&mut body, url).await? {
                if out.len() as u64 + chunk.len() as u64 > limit {
                    return Err(HttpError::TooLarge {
                        url: url.to_string(),
                        limit,
                        declared: None,
                    }
                    .into());
                }
                out.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(out))
        });
        tokio::time::timeout(deadline, read)
            .await
            .unwrap_or_else(|_| {
                Err(HttpError::Timeout {
                    url: url.to_string(),
                    what: "the whole document",
                    secs: deadline.as_secs(),
                })
            })
    }

    /// Any request with a body (an upload), with retries on connection errors, 5xx and 429; every
    /// other answer, success or not, is returned with its status and (bounded) body for the
    /// caller to interpret. Headers may carry credentials: they never appear in errors or logs.
    pub async fn exchange(
        &self,
        method: http::Method,
        url: &Url,
        headers: &[(header::HeaderName, HeaderValue)],
        body: Bytes,
        limit: u64,
    ) -> Result<(StatusCode, Bytes), HttpError> {
        self.retrying(|| async {
            let resp = self
                .request_once(method.clone(), url, headers, body.clone())
                .await?;
            let status = resp.status();
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                return Err(status_failure(&resp, url));
            }
            let mut body = resp.into_body();
            let mut out = Vec::new();
            while let Some(chunk) = self.next_chunk(&mut body, url).await? {
                if out.len() as u64 + chunk.len() as u64 > limit {
                    break;
                }
                out.extend_from_slice(&chunk);
            }
            Ok((status, Bytes::from(out)))
        })
        .await
    }

    /// The next piece of a body, or `None` at its end; a stall longer than the read timeout is
    /// an error.
    pub async fn next_chunk(
        &self,
        body: &mut Incoming,
        url: &Url,
    ) -> Result<Option<Bytes>, Failure> {
        loop {
            let frame = tokio::time::timeout(self.config.read_timeout, body.frame())
                .await
                .map_err(|_| HttpError::Timeout {
                    url: url.to_string(),
                    what: "the download stalled",
                    secs: self.config.read_timeout.as_secs(),
                })?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(HttpError::Body {
                        url: url.to_string(),
                        reason: error_chain(&e),
                    }
                    .into());
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// A non-success answer as a failure, with the wait the server asked for (429, 503).
fn status_failure<B>(resp: &Response<B>, url: &Url) -> Failure {
    Failure {
        error: HttpError::Status {
            url: url.to_string(),
            status: resp.status(),
        },
        retry_after: resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(parse_retry_after),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = k8s_openapi::jiff::fmt::rfc2822::parse(s).ok()?.timestamp();
    let now = k8s_openapi::jiff::Timestamp::now();
    let secs = when.as_second() - now.as_second();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// The `host[:port]` of a URL, as allowed-host lists spell it.
pub fn host_of(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn only_allowed_hosts_are_reached() {
        let c = HttpClient::new(
            vec!["pypi.org".into(), "127.0.0.1:8080".into()],
            HttpConfig::default(),
        )
        .expect("client");
        let ok = |u: &str| c.check_host(&Url::parse(u).expect("url")).is_ok();
        assert!(ok("https://pypi.org/simple/"));
        assert!(ok("http://127.0.0.1:8080/x"));
        assert!(!ok("http://127.0.0.1:9090/x"));
        assert!(!ok("https://evil.example/pypi.org"));
        assert!(!ok("https://pypi.org.evil.example/"));
        assert!(!ok("file:///etc/passwd"));
    }

    #[test]
    fn back_off_grows_and_is_capped() {
        let c = HttpClient::new(vec![], HttpConfig::default()).expect("client");
        for n in 1..30 {
            assert!(c.backoff(n) <= c.config.max_backoff);
        }
    }
}
