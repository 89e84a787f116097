//! Carries out what keyroll says back to commands: the answers a command's result was
//! stored with ([`crate::store::Answer`]), in order, each once, a receipt recorded after
//! each. Handling the delivery again after a crash or a failure carries out only those
//! without a receipt; each is find-or-create, so one carried out but not yet receipted is
//! found, not said twice.

use std::future::Future;

use super::{Clock, ExecError, RuntimeError};
use crate::store::{Answer, Store};

/// Says answers in the world (GitHub). Must be find-or-create for each key.
pub trait Answerer: Send + Sync {
    /// Carries out `answer`; the receipt to record. An error that will not pass (a comment
    /// deleted since) is a receipt saying so, not an error: asking again would not help.
    fn answer(
        &self,
        key: &str,
        answer: &Answer,
    ) -> impl Future<Output = Result<String, ExecError>> + Send;
}

/// Carries out the answers still owed to the command of `delivery_id`; how many.
pub async fn carry_out<A: Answerer>(
    store: &Store,
    answerer: &A,
    clock: &dyn Clock,
    delivery_id: &str,
) -> Result<usize, RuntimeError> {
    let pending = store.pending_answers(delivery_id).await?;
    for p in &pending {
        let receipt =
            answerer
                .answer(&p.key, &p.answer)
                .await
                .map_err(|error| RuntimeError::Effect {
                    key: p.key.clone(),
                    error,
                })?;
        store
            .record_answer_receipt(&p.key, &receipt, clock.now())
            .await?;
    }
    Ok(pending.len())
}
