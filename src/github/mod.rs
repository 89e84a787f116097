//! GitHub: webhook deliveries (their signatures, the events keyroll reads from them, and the
//! engine inputs those events mean).
//! App authentication, the API client and the effects executor come with `keyroll serve`.

pub mod app_auth;
pub mod client;
pub mod rest;
pub mod route;
pub mod signature;
pub mod snapshot;
pub mod webhook;
