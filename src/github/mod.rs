//! GitHub: webhook deliveries (their signatures and the events keyroll reads from them).
//! App authentication, the API client and the effects executor come with `keyroll serve`.

pub mod signature;
pub mod webhook;
