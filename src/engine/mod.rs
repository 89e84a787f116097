//! The rotation lifecycle as a pure state machine: `step(rotation, input, now)` returns the
//! next state and the effects to carry out. No IO, no clock, no randomness: time arrives as
//! an argument, and everything the world reports arrives as an [`Input`].
//!
//! Start with [`Phase`]: its variants, in order, are the lifecycle.
//!
//! The engine is level-triggered. Inputs record facts (a pull request's number, its merge
//! commit, a check's result on a commit that contains that merge, a person's confirmation)
//! and [`step`] then advances the phase as far as the facts allow. A duplicated input records
//! nothing new, and an input that arrives early is kept until its turn comes, so delivery order
//! and repetition do not change where a rotation ends up. Every effect carries an
//! idempotency key; the executor runs each key once.

pub mod approvals;
pub mod confirm;
mod effect;
pub mod gate;
mod input;
mod lifecycle;
mod state;
mod step;
pub mod transcript;

pub use effect::{Effect, Planned};
pub use gate::{GateAction, GateDecision, GateFacts, GatePolicy};
pub use input::{Command, Conclusion, Input};
pub use lifecycle::{PlannedPr, PlannedStep, plan_for};
pub use state::{Facts, Phase, PrFacts, Rotation};
pub use step::{Transition, step};
