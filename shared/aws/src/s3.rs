//! S3 as an [`ObjectStore`]: streaming multipart uploads (created lazily, so small objects are one PUT), each
//! part filled in a temporary file rather than in memory.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use lifecycle::{ObjectStore, Reader, StoreError, Upload};

use crate::spool::Spool;

/// S3's smallest part (all parts but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default part size: the minimum, so that a failed part costs the least to send again.
pub const DEFAULT_PART_SIZE: usize = MIN_PART_SIZE;

/// One bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    part_size: usize,
}

impl S3Store {
    /// A store over `bucket` with the default part size.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            part_size: DEFAULT_PART_SIZE,
        }
    }

    /// Sets the part size (raised to S3's 5 MiB minimum).
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(MIN_PART_SIZE);
        self
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn error(&self, operation: &'static str, key: &str, e: impl std::error::Error) -> StoreError {
        StoreError {
            operation,
            location: self.location(key),
            message: DisplayErrorContext(e).to_string(),
        }
    }

    /// `PutObject` of any body: bytes in memory, or a spooled part's file.
    /// Whether a failed request says the key does not exist (not the bucket).
    fn is_no_such_key<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata,
    {
        e.as_service_error()
            .and_then(|s| s.code())
            .is_none_or(|code| code != "NoSuchBucket")
    }

    /// A conditional write: only if no object is at `key` (`If-None-Match: *`, when `tag` is `None`), or only
    /// if the object's tag is still `tag` (`If-Match`). `false` when the condition did not hold: 412, or 409 (a
    /// concurrent conditional write to the key is in flight), or 404 (the object to match is gone).
    async fn put_conditional(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        tag: Option<&str>,
    ) -> Result<bool, StoreError> {
        let request = (self.client.put_object())
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let request = match tag {
            None => request.if_none_match("*"),
            Some(tag) => request.if_match(format!("\"{tag}\"")),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(412 | 409) => Ok(false),
                // A missing bucket is a 404 too: only the object to match can be "gone".
                Some(404) if tag.is_some() && Self::is_no_such_key(&e) => Ok(false),
                Some(_) | None => Err(self.error("conditional put", key, e)),
            },
        }
    }

    async fn put_body(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
    ) -> Result<(), StoreError> {
        (self.client.put_object())
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| self.error("put", key, e))?;
        Ok(())
    }

    /// `GetObject`, with a missing key as `None`.
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, StoreError> {
        match (self.client.get_object())
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.error("get", key, e)),
        }
    }
}

/// Builds an S3 client from shared config; path-style addressing when an endpoint override is set (moto, MinIO).
pub fn s3_client(config: &aws_config::SdkConfig) -> Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(crate::env::endpoint_override());
    Client::from_conf(builder.build())
}

/// Percent-encodes a key for `x-amz-copy-source` (keeps `/` and unreserved characters).
fn encode_copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

struct S3Upload {
    store: S3Store,
    key: String,
    content_type: String,
    spool: Spool,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    /// The full part being sent while the next one is filled (one at a time, in order).
    sending: Option<tokio::task::JoinHandle<Result<CompletedPart, StoreError>>>,
    written: u64,
    /// Every byte is sent (the last part may be short): nothing more may be written.
    sealed: bool,
}

impl S3Upload {
    fn spool_error(&self, message: String) -> StoreError {
        StoreError {
            operation: "spool part",
            location: self.store.location(&self.key),
            message,
        }
    }

    async fn upload_id(&mut self) -> Result<String, StoreError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = (self.store.client.create_multipart_upload())
            .bucket(&self.store.bucket)
            .key(&self.key)
            .content_type(&self.content_type)
            .send()
            .await
            .map_err(|e| self.store.error("create multipart upload", &self.key, e))?;
        let id = created
            .upload_id()
            .map(str::to_string)
            .ok_or_else(|| StoreError {
                operation: "create multipart upload",
                location: self.store.location(&self.key),
                message: "no upload id returned".into(),
            })?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Starts sending the spooled part in the background, after the part before it is sent; the next part is
    /// spooled to a new file meanwhile. The part's file is removed once it is sent.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        self.sent().await?;
        let upload_id = self.upload_id().await?;
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let mut spool = std::mem::take(&mut self.spool);
        let body = spool.body().await.map_err(|e| self.spool_error(e))?;
        let request = (self.store.client.upload_part())
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(body);
        let (store, key) = (self.store.clone(), self.key.clone());
        self.sending = Some(tokio::spawn(async move {
            let sent = request.send().await;
            drop(spool);
            let output = sent.map_err(|e| store.error("upload part", &key, e))?;
            Ok(CompletedPart::builder()
                .set_e_tag(output.e_tag().map(str::to_string))
                .part_number(number)
                .build())
        }));
        Ok(())
    }

    /// Waits for the part being sent, if any, and records it.
    async fn sent(&mut self) -> Result<(), StoreError> {
        let Some(sending) = self.sending.take() else {
            return Ok(());
        };
        let part = sending
            .await
            .map_err(|e| self.store.error("upload part", &self.key, e))??;
        self.parts.push(part);
        Ok(())
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        if self.sealed && !bytes.is_empty() {
            return Err(self.spool_error("written after the upload was sealed".into()));
        }
        self.written += bytes.len() as u64;
        // Fill parts to exactly `part_size`, each sent as soon as it is full.
        while !bytes.is_empty() {
            let take = (self.store.part_size - self.spool.len).min(bytes.len());
            let written = self.spool.write(&bytes[..take]).await;
            written.map_err(|e| self.spool_error(e))?;
            bytes = &bytes[take..];
            if self.spool.len == self.store.part_size {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    /// Sends the last part (however short) and waits for every part; a one-part upload keeps its bytes for the
    /// single PUT of `finish`.
    async fn seal(&mut self) -> Result<(), StoreError> {
        self.sealed = true;
        if self.upload_id.is_some() && self.spool.len > 0 {
            self.send_part().await?;
        }
        self.sent().await
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let Some(upload_id) = self.upload_id.clone() else {
            // Never reached a full part: one PUT, no multipart upload to clean up.
            let body = self.spool.body().await.map_err(|e| self.spool_error(e))?;
            self.store
                .put_body(&self.key, body, &self.content_type)
                .await?;
            return Ok(self.written);
        };
        if self.spool.len > 0 {
            self.send_part().await?;
        }
        self.sent().await?;
        let parts = std::mem::take(&mut self.parts);
        (self.store.client.complete_multipart_upload())
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.store.error("complete multipart upload", &self.key, e))?;
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(sending) = self.sending.take() {
            sending.abort();
            // Cancelled or finished, the part is no longer needed; its file is gone either way.
            let _ = sending.await;
        }
        let Some(upload_id) = &self.upload_id else {
            return;
        };
        let aborted = (self.store.client.abort_multipart_upload())
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            // The bucket's AbortIncompleteMultipartUpload lifecycle rule cleans up what this could not.
            tracing::warn!(key = %self.key, error = %DisplayErrorContext(&e), "could not abort multipart upload");
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.put_body(key, ByteStream::from(body), content_type)
            .await
    }

    async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn Upload>, StoreError> {
        Ok(Box::new(S3Upload {
            store: self.clone(),
            key: key.to_string(),
            content_type: content_type.to_string(),
            spool: Spool::default(),
            upload_id: None,
            parts: Vec::new(),
            sending: None,
            written: 0,
            sealed: false,
        }))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        (self.client.copy_object())
            .bucket(&self.bucket)
            .key(to)
            .copy_source(encode_copy_source(&self.bucket, from))
            .send()
            .await
            .map_err(|e| self.error("copy", from, e))?;
        Ok(())
    }

    async fn open(&self, key: &str) -> Result<Option<Reader>, StoreError> {
        Ok(self
            .get_object(key)
            .await?
            .map(|output| Box::pin(output.body.into_async_read()) as Reader))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_tagged(key).await?.map(|(body, _)| body))
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let Some(output) = self.get_object(key).await? else {
            return Ok(None);
        };
        let tag = output
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| self.error("read", key, e))?;
        Ok(Some((bytes.into_bytes().to_vec(), tag)))
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<bool, StoreError> {
        self.put_conditional(key, body, content_type, None).await
    }

    async fn put_if_match(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        tag: &str,
    ) -> Result<bool, StoreError> {
        self.put_conditional(key, body, content_type, Some(tag))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("list", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    fn container(&self) -> String {
        self.bucket.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_percent_encoded() {
        assert_eq!(
            encode_copy_source("b", "exports/users/dt=2026-11-22/users 1+.csv"),
            "b/exports/users/dt%3D2026-11-22/users%201%2B.csv"
        );
    }
}
