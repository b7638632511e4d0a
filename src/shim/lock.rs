//! The balena update lock file.
//!
//! Owns: creating the lock file exclusively (`O_CREAT|O_EXCL`, as the balena
//! Supervisor requires), removing it when this shim holds it, and clearing a lock
//! left behind by an earlier run of the shim.
//!
//! Must not touch: the decision of *when* to lock (that is `policy`), or any lock it
//! did not create. The Supervisor (v13.1.0 and newer) creates its own lock files as
//! the `nobody` user (uid 65534) at the same path; a file owned by another user than
//! this process is never removed here.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The lock path when `BALENA_APP_LOCK_PATH` is not set.
pub const DEFAULT_LOCK_PATH: &str = "/tmp/balena/updates.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot create the directory of {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot inspect {path}: {source}")]
    Inspect {
        path: String,
        source: std::io::Error,
    },
}

/// What `take` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutcome {
    Taken,
    /// The file already exists and this process did not create it.
    Busy,
}

/// What `remove_stale` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleOutcome {
    NoLock,
    Removed,
    /// The file belongs to another user (the Supervisor's, most likely); left alone.
    LeftForeign {
        uid: u32,
    },
}

/// The update lock at one path, and whether this process holds it.
#[derive(Debug)]
pub struct UpdateLock {
    path: PathBuf,
    held: bool,
}

impl UpdateLock {
    pub fn new(path: impl Into<PathBuf>) -> UpdateLock {
        UpdateLock {
            path: path.into(),
            held: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// Create the lock file exclusively. Taking a lock already held is a no-op.
    pub fn take(&mut self) -> Result<TakeOutcome, LockError> {
        if self.held {
            return Ok(TakeOutcome::Taken);
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LockError::Directory {
                path: self.shown(),
                source,
            })?;
        }
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path);
        let mut file = match opened {
            Ok(file) => file,
            Err(source) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(TakeOutcome::Busy);
            }
            Err(source) => {
                return Err(LockError::Create {
                    path: self.shown(),
                    source,
                });
            }
        };
        self.held = true;
        // The content is only a hint for people; the file's existence is the lock.
        let note = format!("airglass-shim pid {}\n", std::process::id());
        if let Err(error) = file.write_all(note.as_bytes()) {
            tracing::debug!(%error, "could not write the lock note");
        }
        Ok(TakeOutcome::Taken)
    }

    /// Remove the lock file if this process holds it.
    pub fn release(&mut self) -> Result<(), LockError> {
        if !self.held {
            return Ok(());
        }
        self.held = false;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LockError::Remove {
                path: self.shown(),
                source,
            }),
        }
    }

    /// At start-up: remove a lock file owned by this user (left by an earlier run that
    /// died holding it); leave one owned by anybody else.
    pub fn remove_stale(&self) -> Result<StaleOutcome, LockError> {
        let metadata = match std::fs::symlink_metadata(&self.path) {
            Ok(metadata) => metadata,
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StaleOutcome::NoLock);
            }
            Err(source) => {
                return Err(LockError::Inspect {
                    path: self.shown(),
                    source,
                });
            }
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Ok(StaleOutcome::LeftForeign {
                uid: metadata.uid(),
            });
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(StaleOutcome::Removed),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(StaleOutcome::NoLock)
            }
            Err(source) => Err(LockError::Remove {
                path: self.shown(),
                source,
            }),
        }
    }
}
