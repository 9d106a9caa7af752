//! The files under the temporary directory that hold S3 upload parts while they are filled.
//!
//! Every part file is locked (`flock`, exclusive) by the process that fills it for as long as it is open, and
//! the sweep of a killed run's leftovers removes only files it can lock itself. Lambda gives each execution
//! environment its own `/tmp`, but a directory shared by several processes (local runs, the e2e tests) must
//! not lose a part that another live process is still filling.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use tempfile::TempPath;

/// Prefix of the temporary files that hold parts being filled.
const PREFIX: &str = "sl-part-";

/// How many times a new part file is made when a concurrent sweep took the one just made.
const CREATE_ATTEMPTS: usize = 8;

/// Removes the part files a killed run left in `dir` (a Lambda timeout ends the process, not `/tmp`, which the
/// sandbox's next runs share). A file that a live process holds locked is left alone. Returns how many files
/// were removed.
pub fn remove_leftover_spools(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(PREFIX))
        .filter(|e| remove_if_unlocked(&e.path()))
        .count()
}

/// Removes `path` while holding its lock, so that no process can take it up in between.
fn remove_if_unlocked(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => std::fs::remove_file(path).is_ok(),
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => false,
    }
}

/// A new part file in `dir`, locked by this process. A sweep that opened the file before the lock was taken
/// either holds the lock (this file is given up) or has already removed the name (ditto); then another is made.
fn create_locked(dir: &Path) -> io::Result<(File, TempPath)> {
    for _ in 0..CREATE_ATTEMPTS {
        let (file, path) = tempfile::NamedTempFile::with_prefix_in(PREFIX, dir)?.into_parts();
        if lock_if_still_named(&file, &path)? {
            return Ok((file, path));
        }
    }
    Err(io::Error::other(format!(
        "{CREATE_ATTEMPTS} part files in a row were removed by another process's sweep"
    )))
}

/// Takes `file`'s lock and checks that `path` still names it. `Ok(false)` when another process holds the lock
/// or the name was removed (or now names another file).
fn lock_if_still_named(file: &File, path: &Path) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(false),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let named = match std::fs::metadata(path) {
        Ok(named) => named,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(same_file(&file.metadata()?, &named))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

/// The part being filled, in a file under a directory (Lambda's `/tmp`): an upload holds no part in memory,
/// whatever the part size. Created at the first write; the file is removed when the spool is dropped: once its
/// part is sent, or with the upload, however it ends.
pub(crate) struct Spool {
    dir: PathBuf,
    open: Option<(tokio::fs::File, TempPath)>,
    /// Bytes written so far.
    pub(crate) len: usize,
}

impl Default for Spool {
    /// A spool under the temporary directory.
    fn default() -> Self {
        Spool::in_dir(std::env::temp_dir())
    }
}

impl Spool {
    /// A spool whose file will be made in `dir`.
    pub(crate) fn in_dir(dir: PathBuf) -> Self {
        Spool {
            dir,
            open: None,
            len: 0,
        }
    }

    fn error(dir: &Path, e: io::Error) -> String {
        format!("could not spool the part under {}: {e}", dir.display())
    }

    /// Appends `bytes`, making the file first if this is the first write.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        let file = match &mut self.open {
            Some((file, _)) => file,
            None => {
                let (file, path) =
                    create_locked(&self.dir).map_err(|e| Self::error(&self.dir, e))?;
                &mut self.open.insert((tokio::fs::File::from_std(file), path)).0
            }
        };
        file.write_all(bytes)
            .await
            .map_err(|e| Self::error(&self.dir, e))?;
        self.len += bytes.len();
        Ok(())
    }

    /// The spooled bytes as a body S3 can read (and read again on a retry) straight from the file.
    pub(crate) async fn body(&mut self) -> Result<ByteStream, String> {
        use tokio::io::AsyncWriteExt;
        let Some((file, path)) = &mut self.open else {
            return Ok(ByteStream::from_static(b""));
        };
        file.flush().await.map_err(|e| Self::error(&self.dir, e))?;
        ByteStream::read_from()
            .path(&**path)
            .buffer_size(64 << 10)
            .length(aws_sdk_s3::primitives::Length::Exact(self.len as u64))
            .build()
            .await
            .map_err(|e| format!("could not read the spooled part: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_spooled_part_is_read_back_whole_and_its_file_removed_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::in_dir(dir.path().to_path_buf());
        spool.write(b"user_id,email\n").await.unwrap();
        spool.write(b"1,a@example.com\n").await.unwrap();
        assert_eq!(spool.len, 30);
        let body = spool.body().await.unwrap().collect().await.unwrap();
        assert_eq!(
            body.into_bytes().as_ref(),
            b"user_id,email\n1,a@example.com\n"
        );
        assert_eq!(names(dir.path()).len(), 1);
        drop(spool);
        assert_eq!(names(dir.path()).len(), 0);
    }

    #[test]
    fn leftover_spools_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["sl-part-abc", "sl-part-def", "other.csv"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(remove_leftover_spools(dir.path()), 2);
        assert_eq!(names(dir.path()), ["other.csv"]);
    }

    /// The e2e runs share one temporary directory between function processes: one starting up must not sweep
    /// away the part another is filling.
    #[tokio::test]
    async fn a_sweep_leaves_a_part_that_is_being_filled() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::in_dir(dir.path().to_path_buf());
        spool.write(b"user_id,email\n").await.unwrap();
        std::fs::write(dir.path().join("sl-part-killed"), b"x").unwrap();

        assert_eq!(
            remove_leftover_spools(dir.path()),
            1,
            "only the dead run's part"
        );
        assert_eq!(names(dir.path()).len(), 1);
        spool.write(b"1,a@example.com\n").await.unwrap();
        let body = spool.body().await.unwrap().collect().await.unwrap();
        assert_eq!(
            body.into_bytes().as_ref(),
            b"user_id,email\n1,a@example.com\n"
        );
    }

    #[test]
    fn a_part_file_taken_by_a_sweep_before_its_lock_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        // Swept (removed) between its creation and its lock.
        let (file, path) = tempfile::NamedTempFile::with_prefix_in(PREFIX, dir.path())
            .unwrap()
            .into_parts();
        std::fs::remove_file(&path).unwrap();
        assert!(!lock_if_still_named(&file, &path).unwrap());
        // Swept and its name made again by another process.
        let (file, path) = tempfile::NamedTempFile::with_prefix_in(PREFIX, dir.path())
            .unwrap()
            .into_parts();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"other").unwrap();
        assert!(!lock_if_still_named(&file, &path).unwrap());
        // Locked by the sweep at that moment.
        let (file, path) = tempfile::NamedTempFile::with_prefix_in(PREFIX, dir.path())
            .unwrap()
            .into_parts();
        let sweep = File::open(&path).unwrap();
        sweep.try_lock().unwrap();
        assert!(!lock_if_still_named(&file, &path).unwrap());
        drop(sweep);
        assert!(lock_if_still_named(&file, &path).unwrap());
        // Now that it holds the lock, a sweep leaves it.
        assert_eq!(remove_leftover_spools(dir.path()), 1, "only the other file");
        assert!(path.exists());
    }
}
