//! A moto server (S3 + Secrets Manager) on 127.0.0.1, and SDK clients pointed at it.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::BehaviorVersion;
use sl_aws::aws_sdk_s3::config::{Credentials, Region};
use tokio::process::{Child, Command};

/// A running `moto_server`; killed on drop.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    ///
    /// The port is probed free and then released for moto to bind, so the kernel may offer it again to a
    /// concurrent test before moto binds it; two motos on one port means two tests share a bucket (and, with the
    /// same keys, see each other's imports as duplicates). Ports are therefore handed out once per process.
    pub async fn start() -> Moto {
        static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
        let port = loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            if HANDED_OUT
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(port)
            {
                break port;
            }
        };
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server on PATH (pip install 'moto[server]'; tests/run.sh does)");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Moto { endpoint, child };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start on port {port}");
    }

    /// The CPU time moto has used so far (benches tell who the processor went to).
    pub fn cpu_seconds(&self) -> Option<f64> {
        crate::runtime_api::process_cpu_seconds(self.child.id()?)
    }

    /// SDK configuration for moto (static test credentials, us-east-1).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }

    /// The environment a function needs to reach moto.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// An S3 client with path-style addressing.
    pub async fn s3(&self) -> sl_aws::aws_sdk_s3::Client {
        let config = self.sdk_config().await;
        sl_aws::aws_sdk_s3::Client::from_conf(
            sl_aws::aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// A Secrets Manager client.
    pub async fn secrets(&self) -> sl_aws::aws_sdk_secretsmanager::Client {
        sl_aws::aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
    }
}
