//! The intake side of the store: verified webhook deliveries waiting to be read, the
//! repositories keyroll is installed on, and the state of each repository's config.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, stamp};

/// A delivery as intake stores it: verified, not parsed.
#[derive(Clone)]
pub struct NewWebhook {
    pub delivery_id: String,
    pub event: String,
    pub body: bytes::Bytes,
}

impl std::fmt::Debug for NewWebhook {
    // The body is a third party's text: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook")
            .field("delivery_id", &self.delivery_id)
            .field("event", &self.event)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A stored delivery the worker has not read yet.
#[derive(Clone)]
pub struct StoredWebhook {
    pub seq: i64,
    pub delivery_id: String,
    pub event: String,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for StoredWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredWebhook")
            .field("seq", &self.seq)
            .field("delivery_id", &self.delivery_id)
            .field("event", &self.event)
            .field("body_len", &self.body.len())
            .finish()
    }
}

fn stored_webhook(r: &sqlx::sqlite::SqliteRow) -> StoredWebhook {
    StoredWebhook {
        seq: r.get("seq"),
        delivery_id: r.get("delivery_id"),
        event: r.get("event"),
        body: r.get::<Option<Vec<u8>>, _>("body").unwrap_or_default(),
    }
}

fn parse_stamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// A delivery waiting in its lane, with what its earlier attempts left.
#[derive(Debug, Clone)]
pub struct WaitingWebhook {
    pub hook: StoredWebhook,
    /// Attempts that failed so far.
    pub attempts: u32,
    /// Not to be tried before this (after a failed attempt).
    pub retry_at: Option<OffsetDateTime>,
}

/// What came of a command, kept so handling its delivery again does not repeat it. What
/// keyroll says about it is queued with it (see [`super::Answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    pub ok: bool,
    pub outcome: String,
    /// The reply's text, kept for the record.
    pub reply: Option<String>,
}

/// A repository keyroll is installed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRepository {
    pub repository: String,
    pub installation_id: u64,
}

impl Store {
    /// Stores a batch of deliveries in one transaction (one sync to disk for all of them).
    /// For each, whether it was new: a delivery id seen before is dropped.
    pub async fn insert_webhooks(
        &self,
        batch: &[NewWebhook],
        now: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let received = stamp(now);
        let _turn = self.write_turn.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut fresh = Vec::with_capacity(batch.len());
        for w in batch {
            let done = sqlx::query(
                "INSERT OR IGNORE INTO webhooks (delivery_id, event, received_at, body) VALUES (?, ?, ?, ?)",
            )
            .bind(&w.delivery_id)
            .bind(&w.event)
            .bind(&received)
            .bind(w.body.as_ref())
            .execute(&mut *tx)
            .await?;
            fresh.push(done.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(fresh)
    }

    /// The oldest deliveries not read yet, in arrival order.
    pub async fn pending_webhooks(&self, limit: u32) -> Result<Vec<StoredWebhook>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, delivery_id, event, body FROM webhooks WHERE processed_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(stored_webhook).collect())
    }

    /// Marks deliveries read, each with what came of it, and drops their bodies: one
    /// transaction for the batch.
    pub async fn finish_webhooks(
        &self,
        read: &[(i64, String)],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = stamp(now);
        let _turn = self.write_turn.lock().await;
        let mut tx = self.relaxed.begin().await?;
        for (seq, outcome) in read {
            sqlx::query(
                "UPDATE webhooks SET processed_at = ?, outcome = ?, body = NULL WHERE seq = ?",
            )
            .bind(&at)
            .bind(outcome)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives each delivery not yet assigned a lane the one `lane_of` names (its repository),
    /// in one transaction. Reads only deliveries that wait; returns how many it assigned.
    pub async fn assign_lanes(
        &self,
        limit: u32,
        lane_of: impl Fn(&StoredWebhook) -> String,
    ) -> Result<usize, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, delivery_id, event, body FROM webhooks WHERE lane IS NULL AND processed_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let lanes: Vec<(i64, String)> = rows
            .iter()
            .map(|r| {
                let hook = stored_webhook(r);
                (hook.seq, lane_of(&hook))
            })
            .collect();
        let _turn = self.write_turn.lock().await;
        let mut tx = self.relaxed.begin().await?;
        for (seq, lane) in &lanes {
            sqlx::query("UPDATE webhooks SET lane = ? WHERE seq = ?")
                .bind(lane)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(lanes.len())
    }

    /// The lanes (repositories; `''` for deliveries about none) that have deliveries
    /// waiting, parked ones aside.
    pub async fn lanes_with_work(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT lane FROM webhooks WHERE processed_at IS NULL AND parked_at IS NULL AND lane IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get("lane")).collect())
    }

    /// The oldest deliveries of a lane that wait, parked ones aside, in arrival order.
    pub async fn lane_webhooks(
        &self,
        lane: &str,
        limit: u32,
    ) -> Result<Vec<WaitingWebhook>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, delivery_id, event, body, attempts, retry_at FROM webhooks \
             WHERE lane = ? AND processed_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(lane)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| WaitingWebhook {
                hook: stored_webhook(r),
                attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                retry_at: r
                    .get::<Option<String>, _>("retry_at")
                    .and_then(|t| parse_stamp(&t)),
            })
            .collect())
    }

    /// Records a failed attempt at a delivery: it stays, to be tried again at `retry_at`,
    /// or parked (`park`) when it has had its attempts. `error` says why, without body text.
    pub async fn defer_webhook(
        &self,
        seq: i64,
        attempts: u32,
        retry_at: Option<OffsetDateTime>,
        park: Option<OffsetDateTime>,
        error: &str,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn.lock().await;
        sqlx::query(
            "UPDATE webhooks SET attempts = ?, retry_at = ?, parked_at = ?, last_error = ? WHERE seq = ? AND processed_at IS NULL",
        )
        .bind(i64::from(attempts))
        .bind(retry_at.map(stamp))
        .bind(park.map(stamp))
        .bind(error)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Puts every parked delivery back in its lane with its attempts renewed; how many.
    pub async fn unpark_webhooks(&self) -> Result<u64, StoreError> {
        let _turn = self.write_turn.lock().await;
        let done = sqlx::query(
            "UPDATE webhooks SET parked_at = NULL, retry_at = NULL, attempts = 0 WHERE parked_at IS NOT NULL AND processed_at IS NULL",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// When the oldest delivery still waiting (parked ones aside) arrived.
    pub async fn oldest_waiting_webhook(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let row = sqlx::query(
            "SELECT received_at FROM webhooks WHERE processed_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| parse_stamp(r.get::<&str, _>("received_at"))))
    }

    /// How many deliveries are parked.
    pub async fn parked_webhooks(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT count(*) AS n FROM webhooks WHERE parked_at IS NOT NULL AND processed_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .get("n"))
    }

    /// Forgets deliveries read before `before` (GitHub redelivers for a few days at most, so
    /// older ids need not be remembered to drop duplicates).
    pub async fn prune_webhooks(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM webhooks WHERE processed_at IS NOT NULL AND processed_at < ?")
                .bind(stamp(before))
                .execute(&self.pool)
                .await?;
        sqlx::query("DELETE FROM command_results WHERE at < ?")
            .bind(stamp(before))
            .execute(&self.pool)
            .await?;
        // Answers still owed are kept: their delivery is handled again and says them.
        sqlx::query("DELETE FROM answers WHERE done_at IS NOT NULL AND done_at < ?")
            .bind(stamp(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// How many deliveries wait to be read.
    pub async fn webhook_backlog(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query("SELECT count(*) AS n FROM webhooks WHERE processed_at IS NULL")
                .fetch_one(&self.pool)
                .await?
                .get("n"),
        )
    }

    /// Records (or moves) the installation through which a repository is reached.
    pub async fn set_installation(
        &self,
        repository: &str,
        installation_id: u64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO installations (repository, installation_id, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (repository) DO UPDATE SET installation_id = excluded.installation_id, updated_at = excluded.updated_at \
             WHERE installation_id != excluded.installation_id",
        )
        .bind(repository)
        .bind(i64::try_from(installation_id).unwrap_or(i64::MAX))
        .bind(stamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a repository keyroll was removed from.
    pub async fn remove_installation(&self, repository: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installations WHERE repository = ?")
            .bind(repository)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets every repository of an installation that was deleted.
    pub async fn remove_installation_id(&self, installation_id: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM installations WHERE installation_id = ?")
            .bind(i64::try_from(installation_id).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn installations(&self) -> Result<Vec<InstalledRepository>, StoreError> {
        let rows = sqlx::query(
            "SELECT repository, installation_id FROM installations ORDER BY repository",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| InstalledRepository {
                repository: r.get("repository"),
                installation_id: u64::try_from(r.get::<i64, _>("installation_id")).unwrap_or(0),
            })
            .collect())
    }

    /// Records what was found checking the config at `head_sha` (`None`: valid).
    pub async fn set_config_status(
        &self,
        repository: &str,
        head_sha: &str,
        problems: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO config_status (repository, head_sha, problems, checked_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (repository) DO UPDATE SET head_sha = excluded.head_sha, problems = excluded.problems, checked_at = excluded.checked_at",
        )
        .bind(repository)
        .bind(head_sha)
        .bind(problems)
        .bind(stamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last config check of a repository: the head it read and its problems, if any.
    pub async fn config_status(
        &self,
        repository: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT head_sha, problems FROM config_status WHERE repository = ?")
            .bind(repository)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get("head_sha"), r.get("problems"))))
    }

    /// When each credential of a repository last finished a rotation (Done).
    pub async fn last_rotated(
        &self,
        repository: &str,
    ) -> Result<Vec<(String, OffsetDateTime)>, StoreError> {
        let rows = sqlx::query(
            "SELECT credential, MAX(finished_at) AS at FROM rotations WHERE repository = ? AND phase = 'done' GROUP BY credential",
        )
        .bind(repository)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let at: String = r.get("at");
                let t = OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                    .ok()?;
                Some((r.get("credential"), t))
            })
            .collect())
    }

    /// How many unfinished rotations each phase holds, across repositories (for metrics).
    pub async fn rotations_by_phase(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT phase, count(*) AS n FROM rotations WHERE finished_at IS NULL GROUP BY phase",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("phase"), r.get("n"))).collect())
    }

    /// Whether a repository has inputs not stepped or effects not carried out.
    pub async fn repository_has_work(&self, repository: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM deliveries WHERE repository = ? AND processed_at IS NULL \
             UNION ALL SELECT 1 FROM effects e JOIN rotations r ON r.id = e.rotation_id WHERE r.repository = ? AND e.done_at IS NULL \
             LIMIT 1",
        )
        .bind(repository)
        .bind(repository)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Repositories with work waiting: inputs not stepped or effects not carried out.
    pub async fn repositories_with_work(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT repository FROM deliveries WHERE processed_at IS NULL \
             UNION SELECT r.repository FROM effects e JOIN rotations r ON r.id = e.rotation_id WHERE e.done_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get("repository")).collect())
    }
}

/// One line of the command log.
#[derive(Debug, Clone)]
pub struct CommandRecord<'a> {
    pub repository: &'a str,
    pub rotation_id: Option<&'a str>,
    pub comment_id: u64,
    pub comment_url: Option<&'a str>,
    pub actor_id: u64,
    pub actor_login: &'a str,
    /// The command line as written (commands never carry values).
    pub command: &'a str,
    pub outcome: &'a str,
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    pub async fn record_command(
        &self,
        c: &CommandRecord<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_command(&mut conn, c, now).await
    }

    /// Whether the command log has a line for a comment with this outcome.
    pub async fn command_logged(&self, comment_id: u64, outcome: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM commands WHERE comment_id = ? AND outcome = ? LIMIT 1",
        )
        .bind(as_i64(comment_id))
        .bind(outcome)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The result of the command a delivery brought, if it was run.
    pub async fn command_result(
        &self,
        delivery_id: &str,
    ) -> Result<Option<CommandResult>, StoreError> {
        let row =
            sqlx::query("SELECT ok, outcome, reply FROM command_results WHERE delivery_id = ?")
                .bind(delivery_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| CommandResult {
            ok: r.get("ok"),
            outcome: r.get("outcome"),
            reply: r.get("reply"),
        }))
    }

    /// The dashboard issue of a repository and the digest of what keyroll last wrote.
    pub async fn dashboard(&self, repository: &str) -> Result<Option<(u64, String)>, StoreError> {
        let row =
            sqlx::query("SELECT issue_number, body_sha256 FROM dashboards WHERE repository = ?")
                .bind(repository)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| {
            (
                u64::try_from(r.get::<i64, _>("issue_number")).unwrap_or(0),
                r.get("body_sha256"),
            )
        }))
    }

    pub async fn set_dashboard(
        &self,
        repository: &str,
        issue_number: u64,
        body_sha256: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dashboards (repository, issue_number, body_sha256, updated_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (repository) DO UPDATE SET issue_number = excluded.issue_number, body_sha256 = excluded.body_sha256, updated_at = excluded.updated_at",
        )
        .bind(repository)
        .bind(as_i64(issue_number))
        .bind(body_sha256)
        .bind(stamp(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// One line of the command log, written on `conn` (alone, or in the caller's transaction).
pub(super) async fn insert_command(
    conn: &mut sqlx::SqliteConnection,
    c: &CommandRecord<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO commands (at, repository, rotation_id, comment_id, comment_url, actor_id, actor_login, command, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(stamp(now))
    .bind(c.repository)
    .bind(c.rotation_id)
    .bind(as_i64(c.comment_id))
    .bind(c.comment_url)
    .bind(as_i64(c.actor_id))
    .bind(c.actor_login)
    .bind(c.command)
    .bind(c.outcome)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
