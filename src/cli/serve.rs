//! `keyroll serve`: settings from flags or the environment, checked before anything starts,
//! then the GitHub App server until SIGTERM.

mod settings;

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::sync::Arc;

use clap::{Args, value_parser};

use super::{Exit, Failure};
use crate::runtime::SystemClock;
use crate::server;

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The GitHub App's id (or client id): the issuer of its JWTs.
    #[arg(long, env = "KEYROLL_APP_ID")]
    app_id: Option<String>,
    /// The App's private key (PEM), as GitHub generated it.
    #[arg(long, env = "KEYROLL_APP_KEY_FILE", value_parser = value_parser!(OsString))]
    app_key_file: Option<OsString>,
    /// Webhook secrets, comma-separated: several are accepted at once so the secret can be
    /// rotated.
    #[arg(long, env = "KEYROLL_WEBHOOK_SECRETS", hide_env_values = true)]
    webhook_secrets: Option<String>,
    /// The REST API base URL; for GitHub Enterprise Server, `https://HOST/api/v3`.
    #[arg(
        long,
        env = "KEYROLL_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    github_api_url: String,
    /// keyroll's age identity: a recipient of every SOPS file it edits.
    #[arg(long, env = "KEYROLL_AGE_IDENTITY_FILE", value_parser = value_parser!(OsString))]
    age_identity_file: Option<OsString>,
    /// Where keyroll keeps its state. The file is created readable by its owner only.
    #[arg(
        long,
        env = "KEYROLL_DATABASE_URL",
        default_value = "sqlite://keyroll.db"
    )]
    database_url: String,
    /// The address to listen on.
    #[arg(long, env = "KEYROLL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Logs as text for people or JSON for a log pipeline: text or json.
    #[arg(long, env = "KEYROLL_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// How often to re-read pull requests and checks that webhooks may have missed (1s to 7d).
    #[arg(long, env = "KEYROLL_RECONCILE_INTERVAL", default_value = "5m")]
    reconcile_interval: String,
    /// How often to start rotations that are due (1s to 7d).
    #[arg(long, env = "KEYROLL_SCHEDULE_INTERVAL", default_value = "1h")]
    schedule_interval: String,
    /// The largest webhook body accepted, in bytes (1024 to 33554432); a larger declared
    /// length is refused before the body is read.
    #[arg(long, env = "KEYROLL_MAX_BODY_BYTES", default_value = "5242880")]
    max_body_bytes: String,
    /// Operators everywhere: logins or @org/team, comma-separated (retry, rollback, abort,
    /// emergencies). Repository admins are admins and maintainers operators anyway.
    #[arg(long, env = "KEYROLL_OPERATORS", default_value = "")]
    operators: String,
    /// Admins everywhere: logins or @org/team, comma-separated.
    #[arg(long, env = "KEYROLL_ADMINS", default_value = "")]
    admins: String,
    /// How many rotations may run at once in one repository (1 to 64).
    #[arg(long, env = "KEYROLL_CONCURRENT_ROTATIONS", default_value = "2")]
    concurrent_rotations: String,
    /// How long a client may take to send a request's headers, and a connection may stay
    /// idle between requests (100ms to 1m).
    #[arg(long, env = "KEYROLL_HEADER_TIMEOUT", default_value = "5s")]
    header_timeout: String,
    /// How long a client may take to send a webhook body once its headers are in (100ms to
    /// 5m); a slower one is answered 408 and disconnected.
    #[arg(long, env = "KEYROLL_BODY_TIMEOUT", default_value = "10s")]
    body_timeout: String,
    /// Connections open at once; more wait to be accepted (1 to 65536). Keep it below the
    /// process's open-file limit.
    #[arg(long, env = "KEYROLL_MAX_CONNECTIONS", default_value = "512")]
    max_connections: String,
    /// Bytes of webhook bodies held at once, across all requests, before their signatures
    /// are checked (1024 to 1073741824, at least --max-body-bytes); past it, deliveries are
    /// answered 503.
    #[arg(long, env = "KEYROLL_BODY_BUDGET_BYTES", default_value = "67108864")]
    body_budget_bytes: String,
    /// How often webhook bodies erased from the database are scrubbed out of its files
    /// (100ms to 1m).
    #[arg(long, env = "KEYROLL_SCRUB_INTERVAL", default_value = "1m")]
    scrub_interval: String,
    /// Attempts at a delivery that fails for a passing reason (GitHub unreachable, a rate
    /// limit) before it is parked (1 to 100); a parked delivery is kept and tried again at
    /// the next start or on SIGHUP.
    #[arg(long, env = "KEYROLL_RETRY_ATTEMPTS", default_value = "8")]
    retry_attempts: String,
    /// The longest wait between two attempts at a delivery (1s to 1d); the first wait is
    /// 10s and each further one doubles, up to this.
    #[arg(long, env = "KEYROLL_RETRY_MAX_WAIT", default_value = "10m")]
    retry_max_wait: String,
    /// `/readyz` fails once a delivery not yet parked has waited longer than this (10s to
    /// 1d).
    #[arg(long, env = "KEYROLL_READY_MAX_WAITING", default_value = "10m")]
    ready_max_waiting: String,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let checked = settings::check(args).map_err(|problems| settings::failure(&problems))?;
    init_logs(checked.log_format);
    let settings = checked.settings;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            exit: Exit::Other,
            message: format!("cannot start the async runtime: {e}"),
        })?;
    runtime.block_on(async {
        let running = server::start(settings, Arc::new(SystemClock))
            .await
            .map_err(|e| Failure {
                exit: Exit::Other,
                message: e.to_string(),
            })?;
        running.until_signal().await.map_err(|e| Failure {
            exit: Exit::Other,
            message: e.to_string(),
        })
    })
}
