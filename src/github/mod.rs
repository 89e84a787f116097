//! GitHub: webhook deliveries (their signatures, the events keyroll reads from them, and the
//! engine inputs those events mean).
//! App authentication, the API client and the effects executor come with `keyroll serve`.

pub mod route;
pub mod signature;
pub mod webhook;
