//! Durable state in SQLite (a file, WAL): the inbox of inputs, rotations with a version,
//! the outbox of effects with receipts, an append-only audit log, and locks.
//!
//! The runtime is the only writer. Each engine step is committed in one transaction that
//! checks the rotation's expected version, so two workers can never both advance a rotation,
//! and a crash leaves either the whole step or none of it.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;

use crate::engine::{Effect, Input, Planned, Rotation};

mod answers;
mod at_rest;
mod webhooks;

pub use answers::{Answer, CommandLog, PendingAnswer, Reaction};
pub use at_rest::Scrubbed;
pub use webhooks::{
    CommandRecord, CommandResult, InstalledRepository, NewWebhook, StoredWebhook, WaitingWebhook,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
    #[error("rotation {0} was changed by another worker")]
    Conflict(String),
    #[error("no rotation {0}")]
    NoRotation(String),
    #[error("{}: {source}", path.display())]
    Files {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether trying again later could succeed: the database was busy or unreachable, or
    /// another writer got there first. Stored data that does not parse, a missing rotation
    /// or a failed migration stay until someone changes something.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => !matches!(
                e,
                sqlx::Error::RowNotFound
                    | sqlx::Error::ColumnNotFound(_)
                    | sqlx::Error::ColumnDecode { .. }
                    | sqlx::Error::Decode(_)
                    | sqlx::Error::TypeNotFound { .. }
            ),
            StoreError::Conflict(_) => true,
            StoreError::Migrate(_)
            | StoreError::Json(_)
            | StoreError::NoRotation(_)
            | StoreError::Files { .. } => false,
        }
    }
}

/// An input waiting in the inbox.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: i64,
    pub delivery_id: String,
    pub rotation_id: String,
    pub input: Input,
}

/// One engine step, as the runtime commits it.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord<'a> {
    pub delivery: &'a Delivery,
    pub before: &'a Rotation,
    pub next: &'a Rotation,
    /// The version `before` was read at; another writer's step in between is a conflict.
    pub expected_version: i64,
    pub effects: &'a [Planned],
    pub actor: &'a str,
}

/// An effect not yet carried out.
#[derive(Debug, Clone)]
pub struct PendingEffect {
    pub key: String,
    pub rotation_id: String,
    pub effect: Effect,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The same database, for writes whose loss in a power cut costs nothing but a repeat
    /// (marking deliveries read: reading one again is harmless); they skip the sync to disk.
    relaxed: SqlitePool,
    /// Taken by the busiest writers (intake, and the worker marking deliveries read) so they
    /// never collide in SQLite, whose busy handler would otherwise sleep for milliseconds.
    write_turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

fn stamp(t: OffsetDateTime) -> String {
    crate::sops::mac::format_stamp(t)
}

impl Store {
    /// Opens (creating if needed) the database at `url` (`sqlite://keyroll.db`,
    /// `sqlite::memory:`), in WAL mode, and applies the migrations. A database file is
    /// created readable by its owner only (an existing one is made so, with a warning), and
    /// every connection overwrites what it deletes (see [`Store::scrub`]).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit reaches the disk before it is acknowledged: a webhook answered 202
            // or a step whose effects were carried out must survive a power cut. Intake
            // batches deliveries so this costs one sync per batch.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Freed space is zeroed, not left holding an erased webhook body.
            .pragma("secure_delete", "ON");
        let in_memory = url.contains(":memory:") || options.get_filename() == Path::new(":memory:");
        if !in_memory {
            at_rest::owner_only(options.get_filename())?;
        }
        // One connection for an in-memory database (each would be its own database).
        let max = if in_memory { 1 } else { 4 };
        // No ping before each use: a local file does not drop connections.
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("src/store/migrations").run(&pool).await?;
        let relaxed = if in_memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.synchronous(SqliteSynchronous::Normal))
                .await?
        };
        Ok(Self {
            pool,
            relaxed,
            write_turn: std::sync::Arc::default(),
        })
    }

    /// Whether `url` names a database [`Store::open`] can open; nothing is opened.
    pub fn check_url(url: &str) -> Result<(), StoreError> {
        SqliteConnectOptions::from_str(url)?;
        Ok(())
    }

    /// Whether the database answers and the migrations are applied (for `/readyz`).
    pub async fn ready(&self) -> bool {
        sqlx::query("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await
            .is_ok()
    }

    /// Puts an input in the inbox. A delivery id seen before is dropped: returns false.
    pub async fn enqueue(
        &self,
        delivery_id: &str,
        repository: &str,
        rotation_id: &str,
        input: &Input,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO deliveries (delivery_id, repository, rotation_id, input, received_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(delivery_id)
        .bind(repository)
        .bind(rotation_id)
        .bind(serde_json::to_string(input)?)
        .bind(stamp(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The oldest unprocessed input of a repository.
    pub async fn next_delivery(&self, repository: &str) -> Result<Option<Delivery>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, delivery_id, rotation_id, input FROM deliveries WHERE repository = ? AND processed_at IS NULL ORDER BY seq LIMIT 1",
        )
        .bind(repository)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Delivery {
                seq: r.get("seq"),
                delivery_id: r.get("delivery_id"),
                rotation_id: r.get("rotation_id"),
                input: serde_json::from_str(r.get::<&str, _>("input"))?,
            })
        })
        .transpose()
    }

    /// A rotation and its version.
    pub async fn rotation(&self, id: &str) -> Result<(Rotation, i64), StoreError> {
        let row = sqlx::query("SELECT state, version FROM rotations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NoRotation(id.to_owned()))?;
        Ok((
            serde_json::from_str(row.get::<&str, _>("state"))?,
            row.get("version"),
        ))
    }

    /// Rotations of a repository that are not finished.
    pub async fn active_rotations(&self, repository: &str) -> Result<Vec<Rotation>, StoreError> {
        let rows = sqlx::query("SELECT state FROM rotations WHERE repository = ? AND finished_at IS NULL ORDER BY created_at")
            .bind(repository)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get::<&str, _>("state"))?))
            .collect()
    }

    /// Commits one engine step: the new state (if the version still matches), its effects
    /// in the outbox, an audit row, and the delivery marked processed; all or nothing.
    pub async fn commit_step(
        &self,
        step: &StepRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let StepRecord {
            delivery,
            before,
            next,
            expected_version,
            effects,
            actor,
        } = *step;
        let mut tx = self.pool.begin().await?;
        let finished = next.phase.is_terminal().then(|| stamp(now));
        let updated = sqlx::query(
            "UPDATE rotations SET state = ?, phase = ?, version = version + 1, updated_at = ?, finished_at = COALESCE(finished_at, ?) WHERE id = ? AND version = ?",
        )
        .bind(serde_json::to_string(next)?)
        .bind(next.phase.label())
        .bind(stamp(now))
        .bind(finished)
        .bind(&next.id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict(next.id.clone()));
        }
        let base: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS m FROM effects WHERE rotation_id = ?")
                .bind(&next.id)
                .fetch_one(&mut *tx)
                .await?
                .get("m");
        for (i, e) in effects.iter().enumerate() {
            sqlx::query("INSERT OR IGNORE INTO effects (key, rotation_id, seq, effect, created_at) VALUES (?, ?, ?, ?, ?)")
                .bind(&e.key)
                .bind(&next.id)
                .bind(base + 1 + i as i64)
                .bind(serde_json::to_string(&e.effect)?)
                .bind(stamp(now))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO audit (rotation_id, at, actor, input, phase_before, phase_after) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&next.id)
            .bind(stamp(now))
            .bind(actor)
            .bind(serde_json::to_string(&delivery.input)?)
            .bind(before.phase.label())
            .bind(next.phase.label())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE deliveries SET processed_at = ? WHERE seq = ?")
            .bind(stamp(now))
            .bind(delivery.seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a delivery processed without a step (its rotation is gone or finished).
    pub async fn skip_delivery(
        &self,
        delivery: &Delivery,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE deliveries SET processed_at = ? WHERE seq = ?")
            .bind(stamp(now))
            .bind(delivery.seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Effects of a repository's rotations not carried out yet, each rotation's in the order
    /// they were planned.
    pub async fn pending_effects(
        &self,
        repository: &str,
    ) -> Result<Vec<PendingEffect>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.key, e.rotation_id, e.effect FROM effects e JOIN rotations r ON r.id = e.rotation_id \
             WHERE r.repository = ? AND e.done_at IS NULL ORDER BY r.created_at, e.rotation_id, e.seq",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingEffect {
                    key: r.get("key"),
                    rotation_id: r.get("rotation_id"),
                    effect: serde_json::from_str(r.get::<&str, _>("effect"))?,
                })
            })
            .collect()
    }

    /// Records that an effect was carried out.
    pub async fn record_receipt(
        &self,
        key: &str,
        receipt: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE effects SET done_at = ?, receipt = ? WHERE key = ? AND done_at IS NULL",
        )
        .bind(stamp(now))
        .bind(receipt)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn release_locks(&self, rotation_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM locks WHERE rotation_id = ?")
            .bind(rotation_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The audit log of a rotation: (actor, input JSON, phase before, phase after).
    pub async fn audit(
        &self,
        rotation_id: &str,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = sqlx::query("SELECT actor, input, phase_before, phase_after FROM audit WHERE rotation_id = ? ORDER BY seq")
            .bind(rotation_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get("actor"),
                    r.get("input"),
                    r.get("phase_before"),
                    r.get("phase_after"),
                )
            })
            .collect())
    }

    /// Starts a rotation in one transaction: picks its id (`R-<year>-<n>`, the next number of
    /// `year`), records the rotation `make` builds for that id, takes every scope for it or
    /// finds who holds one, queues that answer as the rotation's first input, and logs the
    /// command that asked for it, if `command` gives one for the id (its result and answers
    /// included; its line is given the rotation's id). A crash leaves either all of it or none: never a rotation nobody will
    /// step, holding its credential for good, nor a started rotation whose command, handled
    /// again, would be answered "already rotating".
    pub async fn start_rotation<'c>(
        &self,
        repository: &str,
        year: i32,
        make: impl FnOnce(String) -> Rotation,
        scopes: &[String],
        command: impl FnOnce(&str) -> Option<CommandLog<'c>>,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = highest_number(&mut tx, year).await?.saturating_add(1);
        let id = format!("R-{year}-{n:04}");
        let rotation = make(id.clone());
        insert_rotation(&mut tx, repository, &rotation, now).await?;
        let input = match held_by_another(&mut tx, scopes, &id).await? {
            Some(holder) => Input::LockBusy { holder },
            None => {
                take_scopes(&mut tx, scopes, &id, now).await?;
                Input::LockAcquired
            }
        };
        sqlx::query(
            "INSERT INTO deliveries (delivery_id, repository, rotation_id, input, received_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(format!("{id}/lock"))
        .bind(repository)
        .bind(&id)
        .bind(serde_json::to_string(&input)?)
        .bind(stamp(now))
        .execute(&mut *tx)
        .await?;
        if let Some(log) = command(&id) {
            // The command's line names the rotation it started.
            let mut log: CommandLog<'_> = log;
            log.record.rotation_id = Some(&id);
            answers::insert_command_log(&mut tx, &log, now).await?;
        }
        tx.commit().await?;
        Ok(id)
    }
}

/// The highest rotation number used in `year`, read on `conn`.
async fn highest_number(conn: &mut sqlx::SqliteConnection, year: i32) -> Result<u32, StoreError> {
    let rows = sqlx::query("SELECT id FROM rotations WHERE id LIKE ?")
        .bind(format!("R-{year}-%"))
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            r.get::<&str, _>("id")
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
        })
        .max()
        .unwrap_or(0))
}

async fn insert_rotation(
    conn: &mut sqlx::SqliteConnection,
    repository: &str,
    rotation: &Rotation,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rotations (id, repository, credential, phase, state, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
    )
    .bind(&rotation.id)
    .bind(repository)
    .bind(&rotation.credential)
    .bind(rotation.phase.label())
    .bind(serde_json::to_string(rotation)?)
    .bind(stamp(now))
    .bind(stamp(now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The rotation other than `rotation_id` holding one of `scopes`, if any.
async fn held_by_another(
    conn: &mut sqlx::SqliteConnection,
    scopes: &[String],
    rotation_id: &str,
) -> Result<Option<String>, StoreError> {
    for scope in scopes {
        let holder: Option<String> = sqlx::query("SELECT rotation_id FROM locks WHERE scope = ?")
            .bind(scope)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.get("rotation_id"));
        if let Some(h) = holder
            && h != rotation_id
        {
            return Ok(Some(h));
        }
    }
    Ok(None)
}

async fn take_scopes(
    conn: &mut sqlx::SqliteConnection,
    scopes: &[String],
    rotation_id: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    for scope in scopes {
        sqlx::query("INSERT OR IGNORE INTO locks (scope, rotation_id, taken_at) VALUES (?, ?, ?)")
            .bind(scope)
            .bind(rotation_id)
            .bind(stamp(now))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
