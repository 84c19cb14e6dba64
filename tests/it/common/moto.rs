//! EventBridge and SQS in moto (the local stack's on :5000, or a private one a test stops and
//! restarts): a bus, a rule that sends the bus's fleet events to a queue, and the queue read
//! back, so a test sees what a platform subscribed to the bus would receive.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The local stack's moto.
pub fn shared_url() -> String {
    std::env::var("AWS_ENDPOINT_URL_EVENTBRIDGE").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_EVENTBRIDGE is not set: run `eval \"$(scripts/local-stack env)\"`")
    })
}

/// A bus whose fleet events land in a queue.
pub struct Subscribed {
    pub bus: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Subscribed {
    /// Creates bus `name`, queue `name` and a rule between them (`source = fleet`) at `url`.
    pub async fn create(url: &str, name: &str) -> Self {
        let cfg = super::servers::sdk_at(url, super::servers::fleet_key()).await;
        let eb = aws_sdk_eventbridge::Client::new(&cfg);
        let sqs = aws_sdk_sqs::Client::new(&cfg);
        eb.create_event_bus().name(name).send().await.unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        eb.put_rule()
            .name(format!("{name}-all"))
            .event_bus_name(name)
            .event_pattern(r#"{"source":["fleet"]}"#)
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .rule(format!("{name}-all"))
            .event_bus_name(name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Self {
            bus: name.to_string(),
            queue_url,
            sqs,
        }
    }

    /// Reads the queue until `want` events have arrived (or `limit` passes): the EventBridge
    /// envelopes (`detail-type`, `source`, `detail`), in arrival order.
    pub async fn receive(&self, want: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                got.push(serde_json::from_str(m.body().unwrap_or("{}")).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        got
    }
}

/// A private moto server a test can stop and start (it keeps nothing across a restart).
pub struct Moto {
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

fn moto_server() -> PathBuf {
    let cache = std::env::var_os("FLEET_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fleet"));
    let bin = cache.join("moto-5.2.5/bin/moto_server");
    assert!(
        bin.exists(),
        "moto is not installed: run scripts/local-stack start"
    );
    bin
}

impl Moto {
    pub fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut m = Self {
            port,
            log: dir.join("moto.log"),
            child: None,
        };
        m.up();
        m
    }

    fn up(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        self.child = Some(
            Command::new(moto_server())
                .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.up();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
