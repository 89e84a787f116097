//! `keyroll serve`: settings from flags or the environment, checked before anything starts,
//! then the GitHub App server until SIGTERM.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use super::{Exit, Failure};
use crate::github::app_auth::AppKey;
use crate::github::client::ClientOptions;
use crate::github::signature::Secrets;
use crate::policy::Span;
use crate::runtime::SystemClock;
use crate::server::{self, People, Settings};
use crate::sops::Identities;

#[derive(Debug, Clone, Copy, ValueEnum)]
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
    #[arg(long, env = "KEYROLL_APP_KEY_FILE")]
    app_key_file: Option<PathBuf>,
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
    #[arg(long, env = "KEYROLL_AGE_IDENTITY_FILE")]
    age_identity_file: Option<PathBuf>,
    /// Where keyroll keeps its state.
    #[arg(
        long,
        env = "KEYROLL_DATABASE_URL",
        default_value = "sqlite://keyroll.db"
    )]
    database_url: String,
    /// The address to listen on.
    #[arg(long, env = "KEYROLL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Logs as text for people or JSON for a log pipeline.
    #[arg(long, env = "KEYROLL_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How often to re-read pull requests and checks that webhooks may have missed.
    #[arg(long, env = "KEYROLL_RECONCILE_INTERVAL", default_value = "5m")]
    reconcile_interval: String,
    /// How often to start rotations that are due.
    #[arg(long, env = "KEYROLL_SCHEDULE_INTERVAL", default_value = "1h")]
    schedule_interval: String,
    /// The largest webhook body accepted, in bytes.
    #[arg(long, env = "KEYROLL_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Operators everywhere: logins or @org/team, comma-separated (retry, rollback, abort,
    /// emergencies). Repository admins are admins and maintainers operators anyway.
    #[arg(long, env = "KEYROLL_OPERATORS", default_value = "")]
    operators: String,
    /// Admins everywhere: logins or @org/team, comma-separated.
    #[arg(long, env = "KEYROLL_ADMINS", default_value = "")]
    admins: String,
    /// How many rotations may run at once in one repository.
    #[arg(long, env = "KEYROLL_CONCURRENT_ROTATIONS", default_value_t = 2)]
    concurrent_rotations: usize,
}

fn bad(message: String) -> Failure {
    Failure {
        exit: Exit::InvalidInput,
        message,
    }
}

fn required<T>(value: Option<T>, flag: &str, env: &str) -> Result<T, Failure> {
    value.ok_or_else(|| bad(format!("serve needs --{flag} (or {env})")))
}

fn interval(text: &str, flag: &str) -> Result<std::time::Duration, Failure> {
    let span = Span::parse(text).map_err(|e| bad(format!("--{flag}: {e}")))?;
    let secs = u64::try_from(span.0.whole_seconds()).unwrap_or(1).max(1);
    Ok(std::time::Duration::from_secs(secs))
}

/// Checks every setting and loads the files they name; the first problem is the error.
pub fn settings(args: ServeArgs) -> Result<Settings, Failure> {
    let app_id = required(args.app_id, "app-id", "KEYROLL_APP_ID")?;
    let key_file = required(args.app_key_file, "app-key-file", "KEYROLL_APP_KEY_FILE")?;
    let pem = Zeroizing::new(std::fs::read(&key_file).map_err(|e| Failure {
        exit: Exit::Io,
        message: format!("{}: {e}", key_file.display()),
    })?);
    let app_key =
        AppKey::from_pem(&app_id, &pem).map_err(|e| bad(format!("{}: {e}", key_file.display())))?;
    let secrets = required(
        args.webhook_secrets,
        "webhook-secrets",
        "KEYROLL_WEBHOOK_SECRETS",
    )?;
    let webhook_secrets =
        Secrets::from_list(&secrets).map_err(|e| bad(format!("KEYROLL_WEBHOOK_SECRETS: {e}")))?;
    let identity_file = required(
        args.age_identity_file,
        "age-identity-file",
        "KEYROLL_AGE_IDENTITY_FILE",
    )?;
    let identities = Identities::from_file(&identity_file).map_err(|e| Failure {
        exit: Exit::NoKey,
        message: format!("{}: {e}", identity_file.display()),
    })?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| bad(format!("--listen {:?}: {e} (write HOST:PORT)", args.listen)))?;
    let api = args.github_api_url.trim_end_matches('/').to_owned();
    if !(api.starts_with("https://") || api.starts_with("http://")) {
        return Err(bad(format!(
            "--github-api-url {api:?} is not an http(s) URL"
        )));
    }
    if !args.database_url.starts_with("sqlite:") {
        return Err(bad(format!(
            "--database-url {:?}: only SQLite (sqlite://FILE) is supported",
            args.database_url
        )));
    }
    Ok(Settings {
        app_key,
        webhook_secrets,
        github_api_url: api,
        identities,
        database_url: args.database_url,
        listen,
        max_body_bytes: args.max_body_bytes,
        reconcile_every: interval(&args.reconcile_interval, "reconcile-interval")?,
        schedule_every: interval(&args.schedule_interval, "schedule-interval")?,
        concurrent_rotations: args.concurrent_rotations.max(1),
        client: ClientOptions::default(),
        people: People {
            operators: list(&args.operators),
            admins: list(&args.admins),
        },
        delivery: Default::default(),
        identity_file,
    })
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
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
    init_logs(args.log_format);
    let settings = settings(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| bad(format!("cannot start the async runtime: {e}")))?;
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
