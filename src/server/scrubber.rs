//! The periodic scrub of the database files (see [`Store::scrub`]): a webhook body the worker
//! has read and erased is gone from the files within one interval (a minute at most).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::store::Store;

/// Scrubs every `every` until `stopped` turns true.
pub async fn run(store: Store, every: Duration, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = super::front_door::until_stopped(&mut stopped) => return,
        }
        match store.scrub().await {
            Ok(done) => {
                if !done.complete {
                    tracing::debug!(
                        "database scrub could not finish (a reader was busy); next time"
                    );
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
