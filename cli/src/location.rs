//! Where a command reads or writes: a local path or `s3://bucket/key`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lifecycle::{LocalStore, ObjectStore};
use sl_aws::S3Store;

use crate::aws::Aws;
use crate::error::CliError;

/// A local path, or an S3 bucket with a key (or key prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file or folder on this machine.
    Local(PathBuf),
    /// `s3://bucket/key`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or prefix (may be empty).
        key: String,
    },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err("an empty path".into());
        }
        let Some(rest) = s.strip_prefix("s3://") else {
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{s:?} names no bucket; expected s3://bucket/key"));
        }
        Ok(Location::S3 {
            bucket: bucket.into(),
            key: key.into(),
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl Location {
    /// A store rooted at this location (the folder, or the bucket) and the key prefix inside it.
    pub async fn store_and_prefix(
        &self,
        aws: &Aws,
    ) -> Result<(Box<dyn ObjectStore>, String), CliError> {
        Ok(match self {
            Location::Local(dir) => (Box::new(LocalStore::new(dir)), String::new()),
            Location::S3 { bucket, key } => (
                Box::new(S3Store::new(aws.s3().await, bucket.clone())),
                key.clone(),
            ),
        })
    }

    /// The store holding this object, and the object's key in it.
    pub async fn store_and_key(
        &self,
        aws: &Aws,
    ) -> Result<(Box<dyn ObjectStore>, String), CliError> {
        match self {
            Location::Local(path) => {
                let (dir, name) = folder_and_name(path)?;
                Ok((Box::new(LocalStore::new(dir)), name))
            }
            Location::S3 { key, .. } if key.is_empty() || key.ends_with('/') => Err(
                CliError::Usage(format!("{self} names a prefix; expected an object key")),
            ),
            Location::S3 { .. } => self.store_and_prefix(aws).await,
        }
    }

    /// Where `key` (a key the store rooted here wrote) is, for people: a path, or `s3://bucket/key`.
    pub fn object(&self, key: &str) -> String {
        match self {
            Location::Local(dir) => dir.join(key).display().to_string(),
            Location::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// A file's folder (`.` when the path has none) and its name.
pub fn folder_and_name(path: &Path) -> Result<(PathBuf, String), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file", path.display())))?
        .to_string_lossy()
        .into_owned();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_paths_and_s3_urls() {
        assert_eq!(
            "users.csv".parse::<Location>().unwrap(),
            Location::Local("users.csv".into())
        );
        assert_eq!(
            "s3://data/exports/users/".parse::<Location>().unwrap(),
            Location::S3 {
                bucket: "data".into(),
                key: "exports/users/".into()
            }
        );
        assert_eq!(
            "s3://data".parse::<Location>().unwrap(),
            Location::S3 {
                bucket: "data".into(),
                key: String::new()
            }
        );
        assert!(
            "s3:///key"
                .parse::<Location>()
                .unwrap_err()
                .contains("no bucket")
        );
        assert!("".parse::<Location>().is_err());
        assert_eq!(
            "s3://b/k.csv".parse::<Location>().unwrap().to_string(),
            "s3://b/k.csv"
        );
    }
}
