//! Saving received files so that nothing is lost or overwritten: temporary
//! files are created exclusively, and a finished file is published under
//! its final name only if that name is free.
//!
//! - [`create_exclusive`] opens a new file with `O_CREAT | O_EXCL`
//!   (`create_new`): it fails if anything — a file, or a symlink planted by
//!   someone else — already has the name, so a write never goes through a
//!   link to a file outside the folder.
//! - [`publish`] gives a finished temporary file its final name without
//!   replacing what may already be there: a hard link, which the kernel
//!   refuses when the name exists, then the temporary name is removed. On a
//!   file system without hard links it claims the name with
//!   [`create_exclusive`] and renames over that empty claim.
//!
//! Used by the a4 chat server (uploads) and the a5 accio server (numbered files).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `path` for reading and writing; fails with `AlreadyExists` if
/// the name is taken, even by a dangling symlink (which is never followed).
pub fn create_exclusive(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Moves the finished file at `temp` to `target` unless `target` exists
/// (then it fails with `AlreadyExists` and `temp` stays where it is).
pub fn publish(temp: &Path, target: &Path) -> io::Result<()> {
    match fs::hard_link(temp, target) {
        Ok(()) => fs::remove_file(temp),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
            ) =>
        {
            Err(e)
        }
        // No hard links here (some FUSE or FAT mounts): claim, then replace the claim.
        Err(_) => {
            drop(create_exclusive(target)?);
            fs::rename(temp, target)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("socklab-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn publishing_never_replaces_and_links_are_never_followed() {
        let dir = scratch("publish");
        let temp = dir.join(".t");
        let target = dir.join("f");
        fs::write(&target, b"first").unwrap();
        fs::write(&temp, b"second").unwrap();
        let err = publish(&temp, &target).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"first");
        publish(&temp, &dir.join("g")).unwrap();
        assert_eq!(fs::read(dir.join("g")).unwrap(), b"second");
        assert!(!temp.exists());

        let outside = dir.join("outside");
        fs::write(&outside, b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(".planted")).unwrap();
        let err = create_exclusive(&dir.join(".planted")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join(".dangling")).unwrap();
        assert!(create_exclusive(&dir.join(".dangling")).is_err());
        assert!(!dir.join("nowhere").exists());
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        fs::remove_dir_all(dir).unwrap();
    }
}
