//! Backup files and the folders holding them. A path starting with `\\` is on a
//! declared share (matched case-insensitively by prefix) and reachable from an
//! instance linked to the share's host; any other path is a local folder of the
//! instance that reads it. A folder is created by the first file written into it.

use super::{LogRec, SimTime, World};
use crate::sim::table::ServerError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a backup set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupKind {
    Full,
    Log,
}

/// One backup set: a database's log records with LSNs in `[first_lsn, last_lsn)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BackupSet {
    pub id: i32,
    pub kind: BackupKind,
    pub database: String,
    pub fork: u64,
    pub first_lsn: u128,
    pub last_lsn: u128,
    pub records: Vec<LogRec>,
    pub taken_at: SimTime,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    /// The name as written (case kept).
    pub name: String,
    pub set: Arc<BackupSet>,
}

/// A folder's identity: its owner (lower-case instance name; None on a share)
/// and its lower-case path without a trailing `\`.
type FolderKey = (Option<String>, String);

#[derive(Debug, Default)]
pub(crate) struct FileStore {
    folders: BTreeSet<FolderKey>,
    files: BTreeMap<(FolderKey, String), StoredFile>,
    /// Declared share roots, lower-case.
    shares: Vec<String>,
}

/// What Windows could not find when a path was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotFound {
    /// Windows error 2.
    File,
    /// Windows error 3.
    Path,
    /// Windows error 53.
    NetworkPath,
}

impl NotFound {
    fn text(self) -> &'static str {
        match self {
            Self::File => "2(The system cannot find the file specified.)",
            Self::Path => "3(The system cannot find the path specified.)",
            Self::NetworkPath => "53(The network path was not found.)",
        }
    }
}

/// Error 3201 for a backup device that cannot be opened.
pub(crate) fn cannot_open(path: &str, e: NotFound) -> ServerError {
    ServerError::new(
        3201,
        16,
        format!(
            "Cannot open backup device '{path}'. Operating system error {}.",
            e.text()
        ),
    )
}

/// A path's lower-case key without trailing separators (`/` read as `\`).
fn normalize(path: &str) -> String {
    let p = path.trim().replace('/', "\\").to_lowercase();
    p.trim_end_matches('\\').to_string()
}

/// (folder, file name) of a path; None for a path without a folder.
fn split(path: &str) -> Option<(&str, &str)> {
    let path = path.trim();
    let at = path.rfind(['\\', '/'])?;
    let (dir, name) = (&path[..at], &path[at + 1..]);
    (!name.is_empty() && !dir.is_empty()).then_some((dir, name))
}

fn is_drive_root(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

impl FileStore {
    pub fn add_share_root(&mut self, path: &str) {
        let key = normalize(path);
        self.folders.insert((None, key.clone()));
        self.shares.push(key);
    }

    /// The declared share a UNC key lies on (the longest matching root).
    fn share_of(&self, key: &str) -> Option<usize> {
        (0..self.shares.len())
            .filter(|&i| {
                let s = &self.shares[i];
                key == s || key.strip_prefix(s.as_str()).is_some_and(|r| r.starts_with('\\'))
            })
            .max_by_key(|&i| self.shares[i].len())
    }
}

impl World {
    /// The folder key of `path` as `reader` sees it, or why it cannot reach it.
    fn folder_key(&self, reader: &str, path: &str) -> Result<FolderKey, NotFound> {
        let key = normalize(path);
        if !key.starts_with(r"\\") {
            return Ok((Some(reader.to_lowercase()), key));
        }
        let share = self.pool.files.share_of(&key).ok_or(NotFound::NetworkPath)?;
        let host = &self.cfg.shares[share].host;
        if !self.linked(reader, host) {
            return Err(NotFound::NetworkPath);
        }
        Ok((None, key))
    }

    fn folder_exists(&self, key: &FolderKey) -> bool {
        (key.0.is_some() && is_drive_root(&key.1)) || self.pool.files.folders.contains(key)
    }

    /// Reads the backup set in the file at `path`, as `reader` would open it.
    pub(crate) fn read_backup(&self, reader: &str, path: &str) -> Result<Arc<BackupSet>, ServerError> {
        let (dir, name) = split(path).ok_or_else(|| cannot_open(path, NotFound::File))?;
        let key = self.folder_key(reader, dir).map_err(|e| cannot_open(path, e))?;
        if !self.folder_exists(&key) {
            return Err(cannot_open(path, NotFound::Path));
        }
        self.pool
            .files
            .files
            .get(&(key, name.to_lowercase()))
            .map(|f| f.set.clone())
            .ok_or_else(|| cannot_open(path, NotFound::File))
    }

    /// Checks `reader` can write a file at `path` (its folder is created if missing).
    pub(crate) fn check_writable(&self, reader: &str, path: &str) -> Result<(), ServerError> {
        let (dir, _) = split(path).ok_or_else(|| cannot_open(path, NotFound::Path))?;
        self.folder_key(reader, dir)
            .map(|_| ())
            .map_err(|e| cannot_open(path, e))
    }

    /// Whether a file exists at `path` for `reader`.
    pub(crate) fn file_exists(&self, reader: &str, path: &str) -> bool {
        self.read_backup(reader, path).is_ok()
    }

    /// Writes (or overwrites) the file at `path`, creating its folders.
    pub(crate) fn write_backup(&mut self, reader: &str, path: &str, set: Arc<BackupSet>) -> Result<(), ServerError> {
        let (dir, name) = split(path).ok_or_else(|| cannot_open(path, NotFound::Path))?;
        let key = self.folder_key(reader, dir).map_err(|e| cannot_open(path, e))?;
        // Every folder from the share root (or drive) down exists from now on.
        let mut folder = key.1.clone();
        loop {
            self.pool.files.folders.insert((key.0.clone(), folder.clone()));
            match folder.rfind('\\') {
                Some(i) if key.0.is_some() || self.pool.files.share_of(&folder[..i]).is_some() => folder.truncate(i),
                _ => break,
            }
        }
        let file = StoredFile {
            name: name.to_string(),
            set,
        };
        self.pool.files.files.insert((key, name.to_lowercase()), file);
        Ok(())
    }

    /// Files in the folder `path` as `reader` sees it: (name, set), in name order.
    /// Empty when the folder is missing or unreachable.
    pub(crate) fn folder_files(&self, reader: &str, path: &str) -> Vec<(String, Arc<BackupSet>)> {
        let Ok(key) = self.folder_key(reader, path) else {
            return Vec::new();
        };
        self.pool
            .files
            .files
            .iter()
            .filter(|((k, _), _)| *k == key)
            .map(|(_, f)| (f.name.clone(), f.set.clone()))
            .collect()
    }

    /// Sub-folders of the folder `path` as `reader` sees it, in name order.
    pub(crate) fn subfolders(&self, reader: &str, path: &str) -> Vec<String> {
        let Ok((owner, key)) = self.folder_key(reader, path) else {
            return Vec::new();
        };
        let prefix = format!("{key}\\");
        self.pool
            .files
            .folders
            .iter()
            .filter(|(o, k)| *o == owner && k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
            .map(|(_, k)| k[prefix.len()..].to_string())
            .collect()
    }

    /// `xp_fileexist`: (file exists, is a directory, parent directory exists);
    /// all false when the path cannot be reached.
    pub(crate) fn path_status(&self, reader: &str, path: &str) -> (bool, bool, bool) {
        let Ok(key) = self.folder_key(reader, path) else {
            return (false, false, false);
        };
        if self.folder_exists(&key) {
            let parent = key.1.rfind('\\').is_none_or(|i| {
                let up = (key.0.clone(), key.1[..i].to_string());
                key.0.is_none() || self.folder_exists(&up)
            });
            return (false, true, parent);
        }
        let file = self.file_exists(reader, path);
        let parent = split(path)
            .and_then(|(dir, _)| self.folder_key(reader, dir).ok())
            .is_some_and(|k| self.folder_exists(&k));
        (file, false, parent)
    }

    /// Marks a folder as existing (a log-shipping copy destination).
    pub(crate) fn ensure_folder(&mut self, owner: &str, path: &str) {
        let key = normalize(path);
        let owner = (!key.starts_with(r"\\")).then(|| owner.to_lowercase());
        self.pool.files.folders.insert((owner, key));
    }

    /// The file names `xp_dirtree` would list in `path` for `reader`.
    pub fn files(&self, path: &str, reader: &str) -> Vec<String> {
        self.folder_files(reader, path).into_iter().map(|(n, _)| n).collect()
    }

    /// The transactions in the backup file at `path`, as `reader` would open it.
    pub fn file_transactions(&self, path: &str, reader: &str) -> Option<Vec<u64>> {
        let set = self.read_backup(reader, path).ok()?;
        Some(set.records.iter().map(|r| r.txn).collect())
    }

    /// A new backup set id.
    pub(crate) fn next_backup_set(&mut self) -> i32 {
        self.pool.next_backup_set += 1;
        self.pool.next_backup_set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_normalize() {
        assert_eq!(normalize(r"\\FS-A\Share\"), r"\\fs-a\share");
        assert_eq!(normalize("D:/x/"), r"d:\x");
        assert_eq!(split(r"D:\x\a.trn"), Some((r"D:\x", "a.trn")));
        assert_eq!(split(r"a.trn"), None);
        assert_eq!(split(r"D:\x\"), None);
        assert!(is_drive_root("d:") && !is_drive_root(r"d:\x"));
        let mut store = FileStore::default();
        store.add_share_root(r"\\fs-a\logs");
        store.add_share_root(r"\\fs-a\logs\deep");
        assert_eq!(store.share_of(r"\\fs-a\logs\deep\x"), Some(1));
        assert_eq!(store.share_of(r"\\fs-a\logs\x"), Some(0));
        assert_eq!(store.share_of(r"\\fs-a\logsx"), None);
    }
}
