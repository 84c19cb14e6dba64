//! Private DynamoDB Local and Garage processes for tests that stop and restart a server
//! (the shared local stack serves every other test at the same time and must stay up).
//! Both keep their data on disk, so a restarted server has what it had.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key pair the local stack uses (scripts/local-stack), so worker processes keep the
/// credentials they inherit.
pub const ACCESS_KEY: &str = "GK3a1f0c5e9d2b7a6c4e8f1d0a";
const SECRET_KEY: &str = "6f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn wait_for(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers(port) {
        assert!(
            Instant::now() < deadline,
            "{what} did not answer on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// DynamoDB Local with `-dbPath`, on a port of its own.
pub struct Dynamo {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Dynamo {
    /// Starts it, its data under `dir`.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut d = Self {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        d.up();
        d
    }

    fn jar_dir() -> PathBuf {
        let cache = std::env::var_os("FLEET_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/fleet"));
        let dir = cache.join("dynamodb-local-11.1.0");
        assert!(
            dir.join("DynamoDBLocal.jar").exists(),
            "DynamoDB Local is not installed in {}: run scripts/local-stack start",
            dir.display()
        );
        dir
    }

    fn up(&mut self) {
        let jar = Self::jar_dir();
        let log = self.dir.join("dynamodb.log");
        let child = Command::new("java")
            .arg(format!(
                "-Djava.library.path={}",
                jar.join("DynamoDBLocal_lib").display()
            ))
            .arg("-jar")
            .arg(jar.join("DynamoDBLocal.jar"))
            .args(["-sharedDb", "-dbPath"])
            .arg(&self.dir)
            .args(["-port", &self.port.to_string()])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("java installed");
        self.child = Some(child);
        wait_for(self.port, "DynamoDB Local", &log);
    }

    /// Stops it (its data stays on disk).
    pub fn stop(&mut self) {
        stop(&mut self.child);
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.up();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Dynamo {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A single-node Garage, on ports of its own, with the local stack's key.
pub struct Garage {
    pub port: u16,
    cfg: PathBuf,
    log: PathBuf,
    rpc: u16,
    child: Option<Child>,
}

impl Garage {
    /// Starts it, its data under `dir`.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let (port, rpc, admin) = (free_port(), free_port(), free_port());
        let cfg = dir.join("garage.toml");
        let secret: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        std::fs::write(
            &cfg,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n[admin]\n\
                 api_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"{secret}\"\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let mut g = Self {
            port,
            log: dir.join("garage.log"),
            cfg,
            rpc,
            child: None,
        };
        g.up();
        let id = g.cli(&["node", "id", "-q"]);
        let id = id.split('@').next().unwrap().trim().to_string();
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &id]);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.cli(&[
            "key", "import", "--yes", "-n", "fleet", ACCESS_KEY, SECRET_KEY,
        ]);
        g.cli(&["key", "allow", "--create-bucket", "fleet"]);
        wait_for(port, "Garage", &g.log);
        g
    }

    /// Runs the garage CLI against this node, returning its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("garage")
                .arg("-c")
                .arg(&self.cfg)
                .args(args)
                .output()
                .expect("garage installed (scripts/local-stack start)");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).to_string();
            }
            assert!(
                Instant::now() < deadline,
                "garage {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn up(&mut self) {
        let child = Command::new("garage")
            .arg("-c")
            .arg(&self.cfg)
            .arg("server")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .spawn()
            .expect("garage installed (scripts/local-stack start)");
        self.child = Some(child);
        wait_for(self.rpc, "Garage RPC", &self.log);
    }

    /// Stops it (its data stays on disk).
    pub fn stop(&mut self) {
        stop(&mut self.child);
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) {
        self.stop();
        self.up();
        wait_for(self.port, "Garage", &self.log);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An SDK config for a server at `url`, with the local stack's region and `key`.
pub async fn sdk_at(url: &str, key: (&str, &str)) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new(key.0, key.1, None, None, "test");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(url)
        .load()
        .await
}

/// The key pair the workers use.
pub fn fleet_key() -> (&'static str, &'static str) {
    (ACCESS_KEY, SECRET_KEY)
}
