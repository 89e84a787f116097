//! The periodic scrub of the database files (see [`Store::scrub`]): a webhook body the worker
//! has read and erased is gone from the files within one interval (a minute at most).

use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

/// After a scrub that could not finish, the next try comes this soon (or at the interval,
/// if that is sooner).
const RETRY: Duration = Duration::from_secs(1);

/// Scrubs every `every` until `stopped` turns true.
pub async fn run(store: Store, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut wait = every;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = super::front_door::until_stopped(&mut stopped) => return,
        }
        wait = every;
        match store.scrub().await {
            Ok(done) => {
                if !done.complete {
                    tracing::debug!(
                        "database scrub could not finish (a reader was busy); trying again soon"
                    );
                    wait = every.min(RETRY);
                }
                if failing {
                    tracing::info!("database scrub works again");
                    failing = false;
                }
            }
            // Once, not every interval: the cause (a full disk, say) is logged elsewhere too.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "database scrub failed; erased webhook bodies may stay in the files until it works");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
