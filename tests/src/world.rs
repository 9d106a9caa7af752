//! The AWS side of an end-to-end test: moto with one bucket, SDK clients, and function start-up.

use serde_json::Value;
use sisense_sim::Simulator;

use crate::moto::Moto;
use crate::runtime_api::Function;
use crate::{Family, function_binary, sim_secret_json};

/// moto with the test bucket, and the SDK clients to look at it.
pub struct World {
    /// The moto server.
    pub moto: Moto,
    /// S3 on moto.
    pub s3: sl_aws::aws_sdk_s3::Client,
    /// Secrets Manager on moto.
    pub secrets: sl_aws::aws_sdk_secretsmanager::Client,
}

/// The bucket every world starts with.
pub const BUCKET: &str = "lifecycle-data";

/// Environment variables for a function.
pub type Env<'a> = Vec<(&'a str, &'a str)>;

impl World {
    /// Starts moto and creates [`BUCKET`].
    pub async fn new() -> World {
        let moto = Moto::start().await;
        let s3 = moto.s3().await;
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket");
        let secrets = moto.secrets().await;
        World { moto, s3, secrets }
    }

    /// Stores a secret; returns its ARN.
    pub async fn secret(&self, name: &str, value: Value) -> String {
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("secret");
        out.arn().expect("arn").to_string()
    }

    /// Stores the simulator's service-account secret for `family`; returns its ARN.
    pub async fn sim_secret(&self, name: &str, sim: &Simulator, family: Family) -> String {
        self.secret(name, sim_secret_json(sim, family)).await
    }

    /// Starts the function binary `name` with moto's environment plus `env`.
    pub async fn function(&self, name: &str, env: &[(&str, &str)]) -> Function {
        let mut all = self.moto.env();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Function::start(&function_binary(name), &all).await
    }

    /// Uploads `body` to `key` in [`BUCKET`]; returns the ETag without quotes.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        out.e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string()
    }

    /// The rows of the CSV report a job's summary names (`reportKey`), one map per row.
    pub async fn report(&self, summary: &Value) -> Vec<std::collections::BTreeMap<String, String>> {
        let bytes = self
            .get(summary["reportKey"].as_str().expect("reportKey"))
            .await;
        csv::Reader::from_reader(bytes.as_slice())
            .deserialize()
            .map(|r| r.expect("a report row"))
            .collect()
    }

    /// The object at `key` in [`BUCKET`] (panics when missing).
    pub async fn get(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        out.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    }

    /// The keys under `prefix` in [`BUCKET`].
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    /// The multipart uploads started in [`BUCKET`] and neither completed nor aborted.
    pub async fn open_uploads(&self) -> Vec<sl_aws::aws_sdk_s3::types::MultipartUpload> {
        let out = self
            .s3
            .list_multipart_uploads()
            .bucket(BUCKET)
            .send()
            .await
            .expect("list multipart uploads");
        out.uploads().to_vec()
    }

    /// An SNS topic with an SQS queue subscribed to it (raw delivery off: each message is SNS's JSON envelope);
    /// returns the topic's ARN and the queue's URL.
    pub async fn topic_with_queue(&self, name: &str) -> (String, String) {
        let config = self.moto.sdk_config().await;
        let (sns, sqs) = (
            aws_sdk_sns::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        );
        let topic = sns.create_topic().name(name).send().await.expect("topic");
        let topic_arn = topic.topic_arn().expect("topic arn").to_string();
        let queue = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("queue");
        let queue_url = queue.queue_url().expect("queue url").to_string();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");
        (topic_arn, queue_url)
    }

    /// The SNS envelopes (`Subject`, `Message`, ...) waiting in the queue at `queue_url`, removed from it.
    pub async fn received(&self, queue_url: &str) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.moto.sdk_config().await);
        let mut envelopes = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                return envelopes;
            }
            for message in out.messages() {
                envelopes.push(
                    serde_json::from_str(message.body().unwrap_or("{}")).expect("SNS envelope"),
                );
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

/// The Embedded Metric Format lines a function printed (one per invocation), parsed.
pub fn emf_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\":"))
        .map(|l| serde_json::from_str(l).expect("an EMF line is JSON"))
        .collect()
}
