//! Reading and writing a history file (the format is
//! [`dualstack_eyeballs::v3::history_file`]): bounded reads that refuse anything but a
//! regular file, and atomic writes (a temporary file in the same directory, flushed to
//! disk, then renamed over the old one), so a reader never sees half a file and two
//! writers never interleave lines: the last rename wins.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use dualstack_eyeballs::v3::history_file::{
    decode, encode, DestEntry, HistoryFileError, Snapshot, HEADER, MAX_FILE_BYTES,
};

/// Why a history file could not be used. The caller warns and goes on without it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read (permissions, not a regular file...).
    #[error("cannot read history file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not a valid history file.
    #[error("ignoring history file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: HistoryFileError,
    },
}

/// Seconds since the Unix epoch at `now` (0 before 1970).
pub fn unix_secs(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Read the history file at `path` as of `now`, keeping entries younger than `max_age`.
/// A missing file is an empty history (the first run).
///
/// # Errors
/// [`LoadError::Io`] when it cannot be read or is not a regular file (a FIFO or a device
/// would block or never end); [`LoadError::Invalid`] when it is too large or malformed.
pub fn load(path: &Path, now: SystemTime, max_age: Duration) -> Result<Snapshot, LoadError> {
    let io_err = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Snapshot::default()),
        Err(e) => return Err(io_err(e)),
    };
    if !meta.is_file() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(io_err)?;
    decode(&bytes, unix_secs(now), max_age).map_err(|source| LoadError::Invalid {
        path: path.to_owned(),
        source,
    })
}

/// Write `snap` to `path` as of `now`, atomically: a new temporary file next to it (mode
/// 0600 where the platform has modes), flushed to disk, then renamed over `path`.
///
/// # Errors
/// The I/O error of creating, writing, flushing or renaming; the temporary file is removed
/// on error.
pub fn save(path: &Path, snap: &Snapshot, now: SystemTime) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let text = encode(snap, unix_secs(now));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn snap() -> Snapshot {
        Snapshot {
            dests: vec![DestEntry {
                host: "v6dead.test".into(),
                port: 80,
                age: Duration::ZERO,
                winner: Some((
                    "198.51.100.10".parse::<IpAddr>().unwrap(),
                    Duration::from_micros(300),
                )),
                demoted: vec!["2001:db8::66".parse().unwrap()],
                quic_broken: false,
            }],
            rtts: Vec::new(),
        }
    }

    #[test]
    fn save_then_load_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history");
        let now = SystemTime::now();
        assert_eq!(
            load(&path, now, Duration::from_secs(60)).unwrap(),
            Snapshot::default()
        );
        save(&path, &snap(), now).unwrap();
        save(&path, &snap(), now).unwrap(); // replaces
        let back = load(&path, now, Duration::from_secs(60)).unwrap();
        assert_eq!(back, snap());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["history"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn hostile_files_are_refused_not_read_forever() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let e = load(Path::new("/dev/zero"), now, day).unwrap_err();
        assert!(matches!(e, LoadError::Io { .. }), "{e}");
        let e = load(dir.path(), now, day).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let big = dir.path().join("big");
        fs::write(&big, vec![b'#'; MAX_FILE_BYTES * 4]).unwrap();
        let e = load(&big, now, day).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let junk = dir.path().join("junk");
        fs::write(&junk, b"dualstack-history 1\ndest \xff\n").unwrap();
        let e = load(&junk, now, day).unwrap_err();
        assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
    }

    #[test]
    fn failed_save_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("d");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), b"").unwrap();
        assert!(save(&target, &snap(), SystemTime::now()).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
