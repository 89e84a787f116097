//! Nothing readable at rest: the database files are the owner's alone, and what keyroll
//! erases (a webhook body once read) leaves the files too.
//!
//! Erasing a value in SQLite does not remove its bytes: the old page stays in the WAL until a
//! checkpoint, and freed space in the database file keeps its content. So every connection
//! runs with `secure_delete` (freed space is overwritten with zeros), and [`Store::scrub`]
//! copies the WAL into the database and truncates it, taking the old pages with it. The
//! server scrubs at least once a minute.

use std::path::Path;

use sqlx::Row;

use super::{Store, StoreError};

/// The mode of the database file and its `-wal` and `-shm` companions: owner only.
#[cfg(unix)]
const OWNER_ONLY: u32 = 0o600;

/// The files SQLite keeps for the database at `db`.
fn database_files(db: &Path) -> [std::path::PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Creates the database file readable by its owner only before SQLite opens it (SQLite gives
/// the `-wal` and `-shm` files the database file's mode), and takes the other users' access
/// away from files an earlier version created, saying so.
#[cfg(unix)]
pub(super) fn owner_only(db: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let failed = |path: &Path, source: std::io::Error| StoreError::Files {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(OWNER_ONLY)
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(db, e)),
    }
    for path in database_files(db) {
        let mode = match std::fs::metadata(&path) {
            Ok(m) => m.permissions().mode() & 0o777,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(&path, e)),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(OWNER_ONLY))
                .map_err(|e| failed(&path, e))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:o}"),
                now = format!("{OWNER_ONLY:o}"),
                "the database file was readable by other users; it is now its owner's only"
            );
        }
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn owner_only(_db: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// What a scrub did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scrubbed {
    /// Whether the WAL was copied into the database and truncated. A reader holding an old
    /// snapshot can keep it from finishing; the next scrub tries again.
    pub complete: bool,
    /// Pages of the WAL copied into the database.
    pub pages: i64,
}

/// How long a scrub waits for readers of an older snapshot before giving up until the next
/// one: it holds intake's turn to write meanwhile, so this bounds the stall it can cause.
const SCRUB_PATIENCE_MS: u32 = 250;

/// The pool's own wait for a busy database (sqlx's default), restored after a scrub.
const USUAL_PATIENCE_MS: u32 = 5_000;

impl Store {
    /// Copies the WAL into the database file and truncates it, so that the pages erased
    /// values lived in (`secure_delete` zeroes them in their new version) are gone from both
    /// files.
    pub async fn scrub(&self) -> Result<Scrubbed, StoreError> {
        // TRUNCATE takes the write lock; taking our own turn first keeps intake and the worker
        // from meeting SQLite's busy handler meanwhile.
        let _turn = self.write_turn.lock().await;
        let mut conn = self.pool.acquire().await?;
        sqlx::query(&format!("PRAGMA busy_timeout = {SCRUB_PATIENCE_MS}"))
            .execute(&mut *conn)
            .await?;
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await;
        let restored = sqlx::query(&format!("PRAGMA busy_timeout = {USUAL_PATIENCE_MS}"))
            .execute(&mut *conn)
            .await;
        if restored.is_err() {
            // Not back in the pool with the short wait.
            conn.close_on_drop();
        }
        let row = row?;
        let busy: i64 = row.try_get(0)?;
        let checkpointed: i64 = row.try_get(2)?;
        Ok(Scrubbed {
            complete: busy == 0,
            pages: checkpointed.max(0),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_companions_are_named_after_the_database() {
        let files = database_files(Path::new("/var/lib/keyroll/k.db"));
        assert_eq!(files[1], Path::new("/var/lib/keyroll/k.db-wal"));
        assert_eq!(files[2], Path::new("/var/lib/keyroll/k.db-shm"));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_could_read_is_made_the_owners() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("k.db");
        owner_only(&db).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("k.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o664)).unwrap();
        owner_only(&db).unwrap();
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
    }
}
