//! CloudWatch metrics as embedded metric format (EMF) lines: a JSON object whose `_aws` key
//! tells CloudWatch Logs which of its fields are metrics. No metrics API call, no SDK: the
//! CloudWatch agent takes the lines on its EMF port (`AWS_EMF_AGENT_ENDPOINT`, the variable the
//! official EMF libraries read), and in Lambda the runtime's log capture takes them from
//! stdout. Emitting is best effort: a metric is never worth failing a video for.

use serde_json::{json, Map, Value};
use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// A plain number (a ratio).
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

#[derive(Debug)]
enum Sink {
    Off,
    Stdout,
    Udp(UdpSocket, SocketAddr),
    Tcp(SocketAddr),
}

/// Where metrics go, and under which namespace.
#[derive(Debug)]
pub struct Metrics {
    sink: Sink,
    namespace: String,
    log_group: Option<String>,
}

impl Metrics {
    /// No metrics (tests, laptops).
    pub fn off() -> Self {
        Self {
            sink: Sink::Off,
            namespace: String::new(),
            log_group: None,
        }
    }

    /// Lines on stdout (Lambda).
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self {
            sink: Sink::Stdout,
            namespace: namespace.into(),
            log_group: None,
        }
    }

    /// From the environment: `AWS_EMF_AGENT_ENDPOINT` (`udp://host:port` or `tcp://host:port`)
    /// for an agent, `FLEET_METRIC_NAMESPACE` (default `fleet`), `AWS_EMF_LOG_GROUP_NAME` for
    /// the log group the agent files the lines under. Without an endpoint, metrics are off.
    pub fn from_env() -> Self {
        let namespace = std::env::var("FLEET_METRIC_NAMESPACE").unwrap_or_else(|_| "fleet".into());
        let log_group = std::env::var("AWS_EMF_LOG_GROUP_NAME").ok();
        let sink = match std::env::var("AWS_EMF_AGENT_ENDPOINT") {
            Ok(e) if !e.is_empty() => match parse_endpoint(&e) {
                Ok(s) => s,
                Err(why) => {
                    tracing::warn!(endpoint = %e, %why, "AWS_EMF_AGENT_ENDPOINT unusable: no metrics");
                    Sink::Off
                }
            },
            _ => Sink::Off,
        };
        Self {
            sink,
            namespace,
            log_group,
        }
    }

    /// Whether anything is emitted.
    pub fn is_on(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// Emits one record: `metrics` as CloudWatch metrics (no dimensions: the namespace names
    /// the fleet), `properties` as searchable fields of the log line.
    pub fn emit(&self, metrics: &[(&str, f64, Unit)], properties: &[(&str, Value)]) {
        if !self.is_on() {
            return;
        }
        let line = self.line(chrono::Utc::now().timestamp_millis(), metrics, properties);
        let sent = match &self.sink {
            Sink::Off => Ok(()),
            Sink::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            Sink::Udp(sock, to) => sock.send_to(line.as_bytes(), to).map(|_| ()),
            Sink::Tcp(to) => TcpStream::connect_timeout(to, Duration::from_millis(500))
                .and_then(|mut s| s.write_all(format!("{line}\n").as_bytes())),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "metrics not sent");
        }
    }

    /// The EMF JSON for one record.
    pub fn line(
        &self,
        ts_ms: i64,
        metrics: &[(&str, f64, Unit)],
        props: &[(&str, Value)],
    ) -> String {
        let metrics: Vec<_> = metrics.iter().filter(|(_, v, _)| v.is_finite()).collect();
        let defs: Vec<Value> = metrics
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut aws = json!({
            "Timestamp": ts_ms,
            "CloudWatchMetrics": [{
                "Namespace": self.namespace,
                "Dimensions": [[]],
                "Metrics": defs,
            }],
        });
        if let Some(g) = &self.log_group {
            aws["LogGroupName"] = json!(g);
        }
        let mut root = Map::new();
        root.insert("_aws".into(), aws);
        for (k, v) in props {
            root.insert((*k).to_string(), v.clone());
        }
        for (name, value, _) in metrics {
            root.insert((*name).to_string(), json!(value));
        }
        Value::Object(root).to_string()
    }
}

fn parse_endpoint(e: &str) -> Result<Sink, String> {
    let (scheme, rest) = e
        .split_once("://")
        .ok_or("expected udp://host:port or tcp://host:port")?;
    let addr = rest
        .trim_end_matches('/')
        .to_socket_addrs()
        .map_err(|x| x.to_string())?
        .next()
        .ok_or("no address")?;
    match scheme {
        "udp" => {
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(bind).map_err(|x| x.to_string())?;
            Ok(Sink::Udp(sock, addr))
        }
        "tcp" => Ok(Sink::Tcp(addr)),
        other => Err(format!("unknown scheme {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_each_finite_metric_with_its_unit_and_no_dimension() {
        let m = Metrics {
            sink: Sink::Stdout,
            namespace: "fleet-prod".into(),
            log_group: Some("/fleet/worker".into()),
        };
        let line = m.line(
            1_700_000_000_000,
            &[
                ("VideosDone", 1.0, Unit::Count),
                ("Speed", f64::NAN, Unit::None),
            ],
            &[("video", json!("s3://b/k"))],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "fleet-prod");
        assert_eq!(cw["Dimensions"], json!([[]]));
        assert_eq!(
            cw["Metrics"],
            json!([{"Name": "VideosDone", "Unit": "Count"}])
        );
        assert_eq!(v["_aws"]["LogGroupName"], "/fleet/worker");
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(v["VideosDone"], 1.0);
        assert!(
            v.get("Speed").is_none(),
            "a NaN is not a value CloudWatch accepts"
        );
        assert_eq!(v["video"], "s3://b/k");
    }

    #[test]
    fn endpoints_need_a_known_scheme() {
        assert!(matches!(
            parse_endpoint("udp://127.0.0.1:25888"),
            Ok(Sink::Udp(..))
        ));
        assert!(matches!(
            parse_endpoint("tcp://127.0.0.1:25888"),
            Ok(Sink::Tcp(_))
        ));
        assert!(parse_endpoint("127.0.0.1:25888").is_err());
        assert!(parse_endpoint("http://127.0.0.1:25888").is_err());
    }
}
