//! A TCP fault proxy between worker processes and a real server, on 127.0.0.1: every chunk
//! is delayed by a latency, and a connection is reset (RST) at random with a set probability
//! per chunk. Faults at the connection level, where the SDKs meet them in production.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to traffic; changeable while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Delay before each chunk is forwarded, milliseconds.
    pub latency_ms: AtomicU64,
    /// Chance, in parts per 10,000, that a chunk resets its connection instead.
    pub reset_per_10k: AtomicU32,
    /// Connections reset so far.
    pub resets: AtomicU64,
    /// Resets this many chunks to come, one after another (each kills its connection): a
    /// burst of failures a client must outlast, the same on every run.
    pub reset_next: AtomicU32,
    /// When non-zero, every connection is reset once it has carried this many chunks from the
    /// server: a long body can then only arrive in pieces.
    pub cut_after_chunks: AtomicU32,
    /// Requests for objects of this bucket (path-style) are answered `403 AccessDenied` by
    /// the proxy, as S3 answers for a bucket policy, a KMS key without a grant or an object
    /// archived in Glacier (Garage hides buckets a key may not read behind a 404 instead).
    pub deny_bucket: std::sync::Mutex<Option<String>>,
    /// Requests denied so far.
    pub denied: AtomicU64,
    /// A request with this anywhere in a chunk it sends (its request line, a header, its
    /// body) is held from that chunk on: never forwarded further, never answered, its
    /// connection kept open until the client gives up (a server or a path that hangs).
    pub stall_matching: std::sync::Mutex<Option<String>>,
    /// Requests held so far.
    pub stalled: AtomicU64,
    /// The next PUT whose request line contains this is held whole (never answered, its
    /// connection kept open) until [`FaultProxy::deliver_held`] sends it to the server, late:
    /// a request delayed in the network. Consumed by the first match.
    pub hold_put: std::sync::Mutex<Option<String>>,
    /// Requests held whole, waiting to be delivered.
    pub held: std::sync::Mutex<Vec<Vec<u8>>>,
    /// DynamoDB requests answered `400 ProvisionedThroughputExceededException` by the proxy
    /// (never reaching the server), in parts per 10,000: a throttled table.
    pub throttle_per_10k: AtomicU32,
    /// Requests throttled so far.
    pub throttled: AtomicU64,
    /// DynamoDB BatchGetItem requests answered by the proxy with every key unprocessed, in
    /// parts per 10,000: what a throttled table answers a batch read.
    pub unprocessed_per_10k: AtomicU32,
    /// BatchGetItems answered so far.
    pub unprocessed: AtomicU64,
}

const DENIED_BODY: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
<Message>Access Denied</Message></Error>";

/// The 403 answer to a request starting with `head`, if its bucket is denied.
fn denial(f: &Faults, head: &[u8]) -> Option<String> {
    let bucket = f.deny_bucket.lock().unwrap().clone()?;
    let line = std::str::from_utf8(&head[..head.len().min(512)]).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let path = rest.split(' ').next()?;
    if !path.starts_with(&format!("/{bucket}/")) {
        return None;
    }
    let body = if method == "HEAD" { "" } else { DENIED_BODY };
    Some(format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         x-amz-request-id: fault-proxy\r\nConnection: close\r\n\r\n{body}",
        if method == "HEAD" { 0 } else { body.len() }
    ))
}

/// Whether a request sending `chunk` is to be held.
fn stalls(f: &Faults, chunk: &[u8]) -> bool {
    let Some(pattern) = f.stall_matching.lock().unwrap().clone() else {
        return false;
    };
    chunk
        .windows(pattern.len())
        .any(|w| w == pattern.as_bytes())
}

/// Whether a request starting with `chunk` is the PUT to hold (consuming the fault).
fn holds(f: &Faults, chunk: &[u8]) -> bool {
    let mut want = f.hold_put.lock().unwrap();
    let Some(pattern) = want.clone() else {
        return false;
    };
    let line = chunk.split(|b| *b == b'\n').next().unwrap_or_default();
    let hit =
        line.starts_with(b"PUT ") && line.windows(pattern.len()).any(|w| w == pattern.as_bytes());
    if hit {
        *want = None;
    }
    hit
}

/// Reads the rest of a request whose first bytes are `buf` (headers, then a body of
/// `content-length` bytes), as the client sends it.
async fn whole_request(down: &mut TcpStream, mut buf: Vec<u8>) -> Vec<u8> {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), down.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return buf,
        }
    }
}

/// The proxy's own answer to a DynamoDB request `req` (whole), if a throttling fault hits it.
fn throttling(f: &Faults, req: &[u8]) -> Option<String> {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
    let target = head
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-target:"))?
        .trim()
        .to_string();
    let hit = |per_10k: &AtomicU32| {
        let p = per_10k.load(Ordering::Relaxed);
        p > 0 && rand::random_range(0..10_000) < p
    };
    let answer = |status: &str, body: String| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             x-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if target.ends_with(".batchgetitem") && hit(&f.unprocessed_per_10k) {
        let body: serde_json::Value = serde_json::from_slice(&req[end + 4..]).ok()?;
        f.unprocessed.fetch_add(1, Ordering::Relaxed);
        let out = serde_json::json!({"Responses": {}, "UnprocessedKeys": body["RequestItems"]});
        return Some(answer("200 OK", out.to_string()));
    }
    if hit(&f.throttle_per_10k) {
        f.throttled.fetch_add(1, Ordering::Relaxed);
        return Some(answer(
            "400 Bad Request",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected by the fault proxy"}"#.into(),
        ));
    }
    None
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The server behind it.
    pub upstream: SocketAddr,
    /// Its faults.
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Faults::default());
        let f = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let f = f.clone();
                tokio::spawn(async move {
                    if let Ok(up) = TcpStream::connect(upstream).await {
                        pipe(down, up, f).await;
                    }
                });
            }
        });
        Self {
            addr,
            upstream,
            faults,
            task,
        }
    }

    /// A proxy to the server an `AWS_ENDPOINT_URL_*` variable names (`http://host:port`).
    pub async fn to_endpoint_in(var: &str) -> Self {
        let url = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("{var}={url}: {e}"));
        Self::start(addr).await
    }

    /// Sends every held request to the server now, each on a connection of its own, and
    /// returns the HTTP status the server answered each with.
    pub async fn deliver_held(&self) -> Vec<u16> {
        let held = std::mem::take(&mut *self.faults.held.lock().unwrap());
        let mut statuses = Vec::new();
        for req in held {
            let mut up = TcpStream::connect(self.upstream).await.unwrap();
            up.write_all(&req).await.unwrap();
            let mut answer = vec![0u8; 4096];
            let n = up.read(&mut answer).await.unwrap();
            let line = String::from_utf8_lossy(&answer[..n]).to_string();
            let status = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no HTTP answer to the held request: {line}"));
            statuses.push(status);
        }
        statuses
    }

    /// `http://<addr>`, for `AWS_ENDPOINT_URL_*`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn pipe(mut down: TcpStream, mut up: TcpStream, f: Arc<Faults>) {
    let (mut a, mut b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let mut carried = 0u32;
    loop {
        // Reads are cancel-safe: whichever side speaks first is forwarded.
        let (read, to_up) = tokio::select! {
            r = down.read(&mut a) => (r, true),
            r = up.read(&mut b) => (r, false),
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let throttles = f.throttle_per_10k.load(Ordering::Relaxed) > 0
            || f.unprocessed_per_10k.load(Ordering::Relaxed) > 0;
        if to_up && throttles && a[..n].starts_with(b"POST ") {
            let req = whole_request(&mut down, a[..n].to_vec()).await;
            if let Some(answer) = throttling(&f, &req) {
                let _ = down.write_all(answer.as_bytes()).await;
                return;
            }
            if up.write_all(&req).await.is_err() {
                return;
            }
            continue;
        }
        if to_up && holds(&f, &a[..n]) {
            let req = whole_request(&mut down, a[..n].to_vec()).await;
            f.held.lock().unwrap().push(req);
            while matches!(down.read(&mut a).await, Ok(n) if n > 0) {}
            return;
        }
        if to_up && stalls(&f, &a[..n]) {
            f.stalled.fetch_add(1, Ordering::Relaxed);
            while matches!(down.read(&mut a).await, Ok(n) if n > 0) {}
            return;
        }
        if to_up {
            if let Some(answer) = denial(&f, &a[..n]) {
                f.denied.fetch_add(1, Ordering::Relaxed);
                let _ = down.write_all(answer.as_bytes()).await;
                return;
            }
        }
        let latency = f.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let p = f.reset_per_10k.load(Ordering::Relaxed);
        let burst = f
            .reset_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        let cut = f.cut_after_chunks.load(Ordering::Relaxed);
        if !to_up {
            carried += 1;
        }
        if burst || (cut > 0 && carried > cut) || (p > 0 && rand::random_range(0..10_000) < p) {
            f.resets.fetch_add(1, Ordering::Relaxed);
            // Linger 0 makes the close an RST, as a crashed peer or a dropped NAT entry does
            // (deprecated because a non-zero linger blocks on drop; zero never does).
            #[allow(deprecated)]
            {
                let _ = down.set_linger(Some(Duration::ZERO));
                let _ = up.set_linger(Some(Duration::ZERO));
            }
            return;
        }
        let sent = if to_up {
            up.write_all(&a[..n]).await
        } else {
            down.write_all(&b[..n]).await
        };
        if sent.is_err() {
            return;
        }
    }
}
