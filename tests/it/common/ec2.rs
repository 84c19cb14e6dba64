//! Stand-ins for what a worker in an autoscaling group talks to and moto cannot serve, on one
//! HTTP port of 127.0.0.1: the instance metadata service (IMDSv2: a PUT for a token, then GETs
//! carrying it), and the Auto Scaling query API's termination hook calls
//! (`CompleteLifecycleAction`, `RecordLifecycleActionHeartbeat`: moto 5.2.5 answers them 500).
//! Every Auto Scaling call is recorded and answered with an empty result, so a test can script
//! a spot notice or a termination and see what the worker did. The group's size, health and
//! self-removal are tested against moto (`group.rs`); the spot and rebalance tests still read
//! the worker's protection calls here, for their order (set, lifted), which a group's state
//! at one moment cannot show.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "stand-in-token";
const NS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// One recorded Auto Scaling call.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub params: HashMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    metadata: HashMap<String, String>,
    calls: Vec<Call>,
    untokened: u32,
}

/// The stand-in; stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct Ec2 {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl Ec2 {
    /// Instance `instance`.
    pub async fn start(instance: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let ec2 = Self { endpoint, state };
        ec2.set("instance-id", Some(instance));
        ec2.set("autoscaling/target-lifecycle-state", Some("InService"));
        let st = ec2.state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, st).await;
                });
            }
        });
        ec2
    }

    /// Sets (or removes, with `None`) `/latest/meta-data/<path>`.
    pub fn set(&self, path: &str, value: Option<&str>) {
        let key = format!("/latest/meta-data/{path}");
        let mut s = self.state.lock().unwrap();
        match value {
            Some(v) => s.metadata.insert(key, v.to_string()),
            None => s.metadata.remove(&key),
        };
    }

    /// The Auto Scaling calls so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of one action.
    pub fn calls_of(&self, action: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.action == action)
            .collect()
    }

    /// Metadata reads that came without a token (IMDSv1), which EC2 refuses with
    /// `http_tokens = required`.
    pub fn untokened(&self) -> u32 {
        self.state.lock().unwrap().untokened
    }
}

async fn serve(mut conn: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (
        first.next().unwrap_or_default().to_string(),
        first.next().unwrap_or_default().to_string(),
    );
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let (status, extra, text) = answer(&method, &path, &headers, &body, &st);
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{text}",
        text.len()
    );
    conn.write_all(reply.as_bytes()).await?;
    conn.shutdown().await
}

fn answer(
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &str,
    st: &Mutex<State>,
) -> (&'static str, String, String) {
    let mut s = st.lock().unwrap();
    if method == "PUT" && path == "/latest/api/token" {
        let ttl = headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .cloned()
            .unwrap_or_else(|| "21600".into());
        let extra = format!("x-aws-ec2-metadata-token-ttl-seconds: {ttl}\r\n");
        return ("200 OK", extra, TOKEN.into());
    }
    if method == "GET" && path.starts_with("/latest/") {
        if headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some(TOKEN) {
            s.untokened += 1;
            return ("401 Unauthorized", String::new(), String::new());
        }
        return match s.metadata.get(path) {
            Some(v) => ("200 OK", String::new(), v.clone()),
            None => ("404 Not Found", String::new(), String::new()),
        };
    }
    if method == "POST" {
        let params: HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let action = params.get("Action").cloned().unwrap_or_default();
        let result = String::new();
        s.calls.push(Call {
            action: action.clone(),
            params,
        });
        let xml = format!(
            "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></{action}Response>"
        );
        return ("200 OK", "content-type: text/xml\r\n".into(), xml);
    }
    ("404 Not Found", String::new(), String::new())
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
