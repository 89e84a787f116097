//! The outbox of commands: what keyroll says back to a person who gave one (reactions and
//! replies), stored in the transaction that records the command's result, then carried out
//! one by one by [`crate::runtime::answers`], each with a receipt. A rotation's own effects
//! stay in `effects`: they belong to a step of the engine, and most commands have no rotation.

use sqlx::Row;
use time::OffsetDateTime;

use super::webhooks::{CommandRecord, CommandResult, insert_command};
use super::{Store, StoreError, stamp};

/// A reaction keyroll gives a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reaction {
    /// The command was read.
    Eyes,
    /// It was carried out.
    PlusOne,
    /// It was refused, or failed.
    MinusOne,
}

impl Reaction {
    /// GitHub's name of the reaction.
    pub fn content(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::MinusOne => "-1",
        }
    }
}

/// One thing keyroll says back to a command. Each is find-or-create on GitHub: a reply
/// carries its key hidden and is found again, and GitHub keeps one reaction of a kind per
/// account however often it is given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    /// React to comment `comment`.
    React { comment: u64, reaction: Reaction },
    /// Comment on issue or pull request `number` (texts never carry a value).
    Reply { number: u64, text: String },
}

/// An answer not yet carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAnswer {
    pub key: String,
    pub answer: Answer,
}

/// A command as the store logs it: its line in the command log, and its result and answers
/// under the delivery that brought it (so handling the delivery again runs nothing twice).
#[derive(Debug, Clone)]
pub struct CommandLog<'a> {
    pub record: CommandRecord<'a>,
    pub delivery_id: &'a str,
    pub result: CommandResult,
    pub answers: Vec<Answer>,
}

impl Store {
    /// Logs a command, keeps its result and queues its answers, in one transaction.
    pub async fn record_command_result(
        &self,
        log: &CommandLog<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_command_log(&mut tx, log, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The answers of a delivery's command not carried out yet, in order.
    pub async fn pending_answers(
        &self,
        delivery_id: &str,
    ) -> Result<Vec<PendingAnswer>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, answer FROM answers WHERE delivery_id = ? AND done_at IS NULL ORDER BY seq",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingAnswer {
                    key: r.get("key"),
                    answer: serde_json::from_str(r.get::<&str, _>("answer"))?,
                })
            })
            .collect()
    }

    /// Records that an answer was carried out (or given up, with why).
    pub async fn record_answer_receipt(
        &self,
        key: &str,
        receipt: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE answers SET done_at = ?, receipt = ? WHERE key = ? AND done_at IS NULL",
        )
        .bind(stamp(now))
        .bind(receipt)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The receipts of a delivery's answers carried out, in order (for tests and audits).
    pub async fn answer_receipts(&self, delivery_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT receipt FROM answers WHERE delivery_id = ? AND done_at IS NOT NULL ORDER BY seq",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.get::<Option<String>, _>("receipt").unwrap_or_default())
            .collect())
    }
}

/// Writes a command's log line, result and answers on `conn` (alone, or in the caller's
/// transaction: starting a rotation writes them with the rotation).
pub(super) async fn insert_command_log(
    conn: &mut sqlx::SqliteConnection,
    log: &CommandLog<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    insert_command(&mut *conn, &log.record, now).await?;
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO command_results (delivery_id, ok, outcome, reply, replied_at, at) VALUES (?, ?, ?, ?, NULL, ?)",
    )
    .bind(log.delivery_id)
    .bind(log.result.ok)
    .bind(&log.result.outcome)
    .bind(&log.result.reply)
    .bind(stamp(now))
    .execute(&mut *conn)
    .await?;
    // A result kept already (the same delivery handled twice at once cannot happen in one
    // lane, but a second writer must not queue the answers again).
    if inserted.rows_affected() == 0 {
        return Ok(());
    }
    for (i, answer) in log.answers.iter().enumerate() {
        sqlx::query(
            "INSERT OR IGNORE INTO answers (key, delivery_id, seq, answer, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(format!("{}/answer/{i}", log.delivery_id))
        .bind(log.delivery_id)
        .bind(i64::try_from(i).unwrap_or(i64::MAX))
        .bind(serde_json::to_string(answer)?)
        .bind(stamp(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
