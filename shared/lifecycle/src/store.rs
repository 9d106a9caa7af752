//! The `ObjectStore` port: where jobs write their artefacts (S3 in Lambda, a folder locally, memory in tests).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// An object opened for streaming reads.
pub type Reader = std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>;

/// A storage failure, with the location it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {location}: {message}")]
pub struct StoreError {
    /// What was attempted (`put`, `upload part`, `copy`, ...).
    pub operation: &'static str,
    /// The object (e.g. `s3://bucket/key` or a path).
    pub location: String,
    /// Why it failed.
    pub message: String,
}

/// An upload in progress. Nothing is visible at the key until `finish` succeeds; `abort` discards it.
#[async_trait]
pub trait Upload: Send {
    /// Appends bytes (the upload buffers them into parts as its backend requires).
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Sends everything written so far, so that [`Upload::finish`] only has to make it visible; nothing may be
    /// written after it. The default does nothing (backends that send nothing before `finish`).
    async fn seal(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Makes the object visible; returns its size in bytes.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
    /// Discards everything written.
    async fn abort(self: Box<Self>);
}

/// Object storage the jobs write to.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes a whole object.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError>;
    /// Starts a streaming upload to `key`.
    async fn start_upload(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<Box<dyn Upload>, StoreError>;
    /// Copies an object (server-side where the backend can).
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError>;
    /// Reads an object; `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Opens an object for reading as a stream (memory bounded by the backend's buffer, not the object's size);
    /// `None` when it does not exist. The default reads it whole.
    async fn open(&self, key: &str) -> Result<Option<Reader>, StoreError> {
        Ok(self
            .get(key)
            .await?
            .map(|body| Box::pin(std::io::Cursor::new(body)) as Reader))
    }
    /// Reads an object with its entity tag (S3's `ETag`, unquoted; a content hash by default); `None` when it
    /// does not exist.
    async fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self.get(key).await?.map(|body| {
            let tag = content_tag(&body);
            (body, tag)
        }))
    }
    /// Writes a whole object only if none exists at `key` (S3 `If-None-Match: *`); `false` when one did.
    async fn put_if_absent(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<bool, StoreError>;
    /// Replaces the object at `key` only if its entity tag is still `tag` (S3 `If-Match`); `false` when it
    /// changed or is gone.
    async fn put_if_match(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        tag: &str,
    ) -> Result<bool, StoreError>;
    /// The keys under `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// The container the keys live in (bucket name or folder), for reports.
    fn container(&self) -> String;
}

/// An in-memory store for tests and dry demos.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    /// When set, a streaming upload fails after this many bytes were written (to test aborts).
    fail_upload_after: Option<usize>,
    /// When set, whole-object puts under this prefix fail.
    refuse_puts_under: Option<String>,
}

impl MemoryStore {
    /// A store whose streaming uploads fail once more than `bytes` were written.
    pub fn failing_after(bytes: usize) -> Self {
        MemoryStore {
            fail_upload_after: Some(bytes),
            ..MemoryStore::default()
        }
    }

    /// A store whose whole-object puts under `prefix` fail.
    pub fn refusing_puts_under(prefix: &str) -> Self {
        MemoryStore {
            refuse_puts_under: Some(prefix.to_string()),
            ..MemoryStore::default()
        }
    }

    /// A view of the same objects whose whole-object puts under `prefix` fail (to cut a run off midway).
    pub fn refusing_puts_under_shared(&self, prefix: &str) -> Self {
        MemoryStore {
            objects: self.objects.clone(),
            fail_upload_after: self.fail_upload_after,
            refuse_puts_under: Some(prefix.to_string()),
        }
    }

    /// The stored objects.
    pub fn objects(&self) -> BTreeMap<String, Vec<u8>> {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn insert(&self, key: &str, body: Vec<u8>) {
        self.objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), body);
    }
}

struct MemoryUpload {
    store: MemoryStore,
    key: String,
    buffer: Vec<u8>,
    /// Sealed: a write now is a caller's error, as it is for S3.
    sealed: bool,
}

#[async_trait]
impl Upload for MemoryUpload {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.sealed && !bytes.is_empty() {
            return Err(StoreError {
                operation: "upload part",
                location: self.key.clone(),
                message: "written after the upload was sealed".into(),
            });
        }
        self.buffer.extend_from_slice(bytes);
        match self.store.fail_upload_after {
            Some(limit) if self.buffer.len() > limit => Err(StoreError {
                operation: "upload part",
                location: self.key.clone(),
                message: "injected failure".into(),
            }),
            _ => Ok(()),
        }
    }

    async fn seal(&mut self) -> Result<(), StoreError> {
        self.sealed = true;
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        let len = self.buffer.len() as u64;
        self.store.insert(&self.key, self.buffer);
        Ok(len)
    }

    async fn abort(self: Box<Self>) {}
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), StoreError> {
        if let Some(prefix) = &self.refuse_puts_under
            && key.starts_with(prefix.as_str())
        {
            return Err(StoreError {
                operation: "put",
                location: key.to_string(),
                message: "injected failure".into(),
            });
        }
        self.insert(key, body);
        Ok(())
    }

    async fn start_upload(
        &self,
        key: &str,
        _content_type: &str,
    ) -> Result<Box<dyn Upload>, StoreError> {
        Ok(Box::new(MemoryUpload {
            store: self.clone(),
            key: key.to_string(),
            buffer: Vec::new(),
            sealed: false,
        }))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let body = self.get(from).await?.ok_or_else(|| StoreError {
            operation: "copy",
            location: from.to_string(),
            message: "no such object".into(),
        })?;
        self.insert(to, body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
    ) -> Result<bool, StoreError> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        if objects.contains_key(key) {
            return Ok(false);
        }
        objects.insert(key.to_string(), body);
        Ok(true)
    }

    async fn put_if_match(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &str,
        tag: &str,
    ) -> Result<bool, StoreError> {
        let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
        if objects.get(key).map(|b| content_tag(b)).as_deref() != Some(tag) {
            return Ok(false);
        }
        objects.insert(key.to_string(), body);
        Ok(true)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn container(&self) -> String {
        "memory".into()
    }
}

/// A content tag for stores without one of their own: FNV-1a 64 of the bytes, in hex.
fn content_tag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A folder on disk: keys are relative paths. Uploads go to a temporary file renamed into place on `finish`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key.split('/').any(|part| part == ".." || part.is_empty()) || key.starts_with('/') {
            return Err(StoreError {
                operation: "resolve",
                location: key.into(),
                message: "invalid key".into(),
            });
        }
        Ok(self.root.join(key))
    }

    fn io(operation: &'static str, path: &std::path::Path, e: std::io::Error) -> StoreError {
        StoreError {
            operation,
            location: path.display().to_string(),
            message: e.to_string(),
        }
    }

    async fn ensure_parent(path: &std::path::Path) -> Result<(), StoreError> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| Self::io("create folder", parent, e))?;
        }
        Ok(())
    }
}

struct LocalUpload {
    file: tokio::fs::File,
    temp: PathBuf,
    target: PathBuf,
    written: u64,
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| LocalStore::io("write", &self.temp, e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        use tokio::io::AsyncWriteExt;
        self.file
            .flush()
            .await
            .map_err(|e| LocalStore::io("flush", &self.temp, e))?;
        self.file
            .sync_all()
            .await
            .map_err(|e| LocalStore::io("sync", &self.temp, e))?;
        tokio::fs::rename(&self.temp, &self.target)
            .await
            .map_err(|e| LocalStore::io("rename", &self.target, e))?;
        Ok(self.written)
    }

    async fn abort(self: Box<Self>) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.temp).await;
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let mut upload = self.start_upload(key, content_type).await?;
        upload.write(&body).await?;
        upload.finish().await.map(|_| ())
    }

    async fn start_upload(
        &self,
        key: &str,
        _content_type: &str,
    ) -> Result<Box<dyn Upload>, StoreError> {
        let target = self.path(key)?;
        Self::ensure_parent(&target).await?;
        let temp = target.with_extension(format!("partial-{}", std::process::id()));
        let file = tokio::fs::File::create(&temp)
            .await
            .map_err(|e| Self::io("create", &temp, e))?;
        Ok(Box::new(LocalUpload {
            file,
            temp,
            target,
            written: 0,
        }))
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let (source, target) = (self.path(from)?, self.path(to)?);
        Self::ensure_parent(&target).await?;
        tokio::fs::copy(&source, &target)
            .await
            .map_err(|e| Self::io("copy", &source, e))
            .map(|_| ())
    }

    async fn open(&self, key: &str) -> Result<Option<Reader>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Some(Box::pin(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io("open", &path, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(body) => Ok(Some(body)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io("read", &path, e)),
        }
    }

    async fn put_if_absent(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<bool, StoreError> {
        // Write a temporary file, then hard-link it into place: linking fails atomically if the target exists.
        let target = self.path(key)?;
        let temp_key = format!("{key}.claim-{}", std::process::id());
        self.put(&temp_key, body, content_type).await?;
        let temp = self.path(&temp_key)?;
        let linked = tokio::fs::hard_link(&temp, &target).await;
        let _ = tokio::fs::remove_file(&temp).await;
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Self::io("link", &target, e)),
        }
    }

    /// Compares, then replaces: not atomic (two writers between the read and the write could both succeed), which
    /// a folder on one operator's disk can live with; S3 checks the tag atomically.
    async fn put_if_match(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        tag: &str,
    ) -> Result<bool, StoreError> {
        match self.get_tagged(key).await? {
            Some((_, current)) if current == tag => {
                self.put(key, body, content_type).await?;
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut folders = vec![self.root.clone()];
        while let Some(folder) = folders.pop() {
            let mut entries = match tokio::fs::read_dir(&folder).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Self::io("list", &folder, e)),
            };
            while let Some(entry) = entries
                .next_entry()
                .await
                .map_err(|e| Self::io("list", &folder, e))?
            {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if let Ok(relative) = path.strip_prefix(&self.root) {
                    let key = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn container(&self) -> String {
        self.root.display().to_string()
    }
}
