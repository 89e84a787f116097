//! Checking `keyroll serve`'s settings: every one is read, and every problem is reported at
//! once, each naming its flag and its variable. Intervals, timeouts, counts and sizes have
//! documented ranges (see [`RANGES`]), so nothing out of range reaches the server.

use std::ffi::OsString;
use std::fmt;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use super::{LogFormat, ServeArgs};
use crate::cli::{Exit, Failure};
use crate::github::app_auth::AppKey;
use crate::github::client::ClientOptions;
use crate::github::signature::Secrets;
use crate::server::{DeliveryOptions, FrontDoor, People, RetryPolicy, Settings};
use crate::sops::Identities;

/// One setting of `serve`: its flag and the variable that can give it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flag: &'static str,
    pub env: &'static str,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{} ({})", self.flag, self.env)
    }
}

macro_rules! settings {
    ($($name:ident = $flag:literal, $env:literal;)*) => {
        // The lists of people cannot be wrong, so only the tests name them.
        $(#[allow(dead_code)] pub const $name: Setting = Setting { flag: $flag, env: $env };)*
        /// Every setting, in the order of `serve --help`.
        #[cfg(test)]
        pub const ALL: &[Setting] = &[$($name),*];
    };
}

settings! {
    APP_ID = "app-id", "KEYROLL_APP_ID";
    APP_KEY_FILE = "app-key-file", "KEYROLL_APP_KEY_FILE";
    WEBHOOK_SECRETS = "webhook-secrets", "KEYROLL_WEBHOOK_SECRETS";
    GITHUB_API_URL = "github-api-url", "KEYROLL_GITHUB_API_URL";
    AGE_IDENTITY_FILE = "age-identity-file", "KEYROLL_AGE_IDENTITY_FILE";
    DATABASE_URL = "database-url", "KEYROLL_DATABASE_URL";
    LISTEN = "listen", "KEYROLL_LISTEN";
    LOG_FORMAT = "log-format", "KEYROLL_LOG_FORMAT";
    RECONCILE_INTERVAL = "reconcile-interval", "KEYROLL_RECONCILE_INTERVAL";
    SCHEDULE_INTERVAL = "schedule-interval", "KEYROLL_SCHEDULE_INTERVAL";
    MAX_BODY_BYTES = "max-body-bytes", "KEYROLL_MAX_BODY_BYTES";
    OPERATORS = "operators", "KEYROLL_OPERATORS";
    ADMINS = "admins", "KEYROLL_ADMINS";
    CONCURRENT_ROTATIONS = "concurrent-rotations", "KEYROLL_CONCURRENT_ROTATIONS";
    HEADER_TIMEOUT = "header-timeout", "KEYROLL_HEADER_TIMEOUT";
    BODY_TIMEOUT = "body-timeout", "KEYROLL_BODY_TIMEOUT";
    MAX_CONNECTIONS = "max-connections", "KEYROLL_MAX_CONNECTIONS";
    BODY_BUDGET_BYTES = "body-budget-bytes", "KEYROLL_BODY_BUDGET_BYTES";
    SCRUB_INTERVAL = "scrub-interval", "KEYROLL_SCRUB_INTERVAL";
    RETRY_ATTEMPTS = "retry-attempts", "KEYROLL_RETRY_ATTEMPTS";
    RETRY_MAX_WAIT = "retry-max-wait", "KEYROLL_RETRY_MAX_WAIT";
    READY_MAX_WAITING = "ready-max-waiting", "KEYROLL_READY_MAX_WAITING";
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The range of a duration setting, inclusive.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub min: Duration,
    pub max: Duration,
}

/// The range of a count or size setting, inclusive.
#[derive(Debug, Clone, Copy)]
pub struct Count {
    pub min: u64,
    pub max: u64,
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub const RECONCILE_RANGE: Span = Span {
    min: secs(1),
    max: secs(7 * 86_400),
};
pub const SCHEDULE_RANGE: Span = RECONCILE_RANGE;
pub const HEADER_TIMEOUT_RANGE: Span = Span {
    min: Duration::from_millis(100),
    max: secs(60),
};
pub const BODY_TIMEOUT_RANGE: Span = Span {
    min: Duration::from_millis(100),
    max: secs(300),
};
/// At most a minute: an erased body must be gone from the files within one.
pub const SCRUB_RANGE: Span = Span {
    min: Duration::from_millis(100),
    max: secs(60),
};
/// GitHub caps a delivery's payload at 25 MB.
pub const MAX_BODY_RANGE: Count = Count {
    min: KIB,
    max: 32 * MIB,
};
pub const BODY_BUDGET_RANGE: Count = Count {
    min: KIB,
    max: 1024 * MIB,
};
pub const MAX_CONNECTIONS_RANGE: Count = Count {
    min: 1,
    max: 65_536,
};
pub const CONCURRENT_ROTATIONS_RANGE: Count = Count { min: 1, max: 64 };
pub const RETRY_ATTEMPTS_RANGE: Count = Count { min: 1, max: 100 };
pub const RETRY_MAX_WAIT_RANGE: Span = Span {
    min: secs(1),
    max: secs(86_400),
};
pub const READY_MAX_WAITING_RANGE: Span = Span {
    min: secs(10),
    max: secs(86_400),
};

/// A setting's range, as `serve --help` must state it.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub enum Range {
    Span(Span),
    Count(Count),
}

#[cfg(test)]
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Range::Span(s) => write!(f, "{} to {}", show(s.min), show(s.max)),
            Range::Count(c) => write!(f, "{} to {}", c.min, c.max),
        }
    }
}

/// Every setting with a range.
#[cfg(test)]
pub const RANGED: &[(Setting, Range)] = &[
    (RECONCILE_INTERVAL, Range::Span(RECONCILE_RANGE)),
    (SCHEDULE_INTERVAL, Range::Span(SCHEDULE_RANGE)),
    (HEADER_TIMEOUT, Range::Span(HEADER_TIMEOUT_RANGE)),
    (BODY_TIMEOUT, Range::Span(BODY_TIMEOUT_RANGE)),
    (SCRUB_INTERVAL, Range::Span(SCRUB_RANGE)),
    (MAX_BODY_BYTES, Range::Count(MAX_BODY_RANGE)),
    (BODY_BUDGET_BYTES, Range::Count(BODY_BUDGET_RANGE)),
    (MAX_CONNECTIONS, Range::Count(MAX_CONNECTIONS_RANGE)),
    (
        CONCURRENT_ROTATIONS,
        Range::Count(CONCURRENT_ROTATIONS_RANGE),
    ),
    (RETRY_ATTEMPTS, Range::Count(RETRY_ATTEMPTS_RANGE)),
    (RETRY_MAX_WAIT, Range::Span(RETRY_MAX_WAIT_RANGE)),
    (READY_MAX_WAITING, Range::Span(READY_MAX_WAITING_RANGE)),
];

/// The largest key or identity file read: both are a few hundred bytes.
const MAX_KEY_FILE: u64 = 64 * KIB;

/// A setting's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub setting: Setting,
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

/// The problems found so far.
#[derive(Debug, Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn note<T>(&mut self, setting: Setting, checked: Result<T, String>) -> Option<T> {
        self.note_as(setting, Exit::InvalidInput, checked)
    }

    fn note_as<T>(
        &mut self,
        setting: Setting,
        exit: Exit,
        checked: Result<T, String>,
    ) -> Option<T> {
        checked
            .map_err(|message| {
                self.0.push(Problem {
                    setting,
                    exit,
                    message,
                })
            })
            .ok()
    }
}

/// The problems as one failure: one line each; the exit code of the problem when there is
/// one, "invalid input" when there are several.
pub fn failure(problems: &[Problem]) -> Failure {
    let exit = match problems {
        [only] => only.exit,
        _ => Exit::InvalidInput,
    };
    let mut message = match problems.len() {
        1 => "serve cannot start; fix this setting:".to_owned(),
        n => format!("serve cannot start; fix these {n} settings:"),
    };
    for p in problems {
        message.push_str("\n  ");
        message.push_str(&p.to_string());
    }
    Failure { exit, message }
}

/// What `serve` runs with, once every setting is right.
#[derive(Debug)]
pub struct Checked {
    pub settings: Settings,
    pub log_format: LogFormat,
}

/// Checks every setting and loads the files they name; every problem is reported.
pub fn check(args: ServeArgs) -> Result<Checked, Vec<Problem>> {
    let mut p = Problems::default();
    let app_id = p.note(APP_ID, required(args.app_id.as_deref()));
    let key_file = p.note(APP_KEY_FILE, required_path(args.app_key_file));
    // The key is read and checked even without an App id, so both problems show at once.
    let app_key = key_file.as_ref().and_then(|file| {
        let pem = p.note_as(APP_KEY_FILE, Exit::Io, read_bounded(file))?;
        let key = AppKey::from_pem(app_id.as_deref().unwrap_or("unset"), &pem)
            .map_err(|e| format!("{}: {e}", file.display()));
        p.note(APP_KEY_FILE, key)
    });
    let webhook_secrets = p
        .note(WEBHOOK_SECRETS, required(args.webhook_secrets.as_deref()))
        .and_then(|list| {
            let secrets = Secrets::from_list(&list).map_err(|e| e.to_string());
            p.note(WEBHOOK_SECRETS, secrets)
        });
    let github_api_url = p.note(GITHUB_API_URL, api_url(&args.github_api_url));
    let identity_file = p.note(AGE_IDENTITY_FILE, required_path(args.age_identity_file));
    let identities = identity_file.as_ref().and_then(|file| {
        // Bounded first: the identity reader takes a file whole.
        p.note_as(AGE_IDENTITY_FILE, Exit::NoKey, read_bounded(file))?;
        let ids = Identities::from_file(file).map_err(|e| format!("{}: {e}", file.display()));
        p.note_as(AGE_IDENTITY_FILE, Exit::NoKey, ids)
    });
    let database_url = p.note(DATABASE_URL, database_url(&args.database_url));
    let listen = p.note(LISTEN, listen(&args.listen));
    let log_format = p.note(LOG_FORMAT, log_format(&args.log_format));
    let reconcile_every = p.note(
        RECONCILE_INTERVAL,
        duration_in(&args.reconcile_interval, RECONCILE_RANGE),
    );
    let schedule_every = p.note(
        SCHEDULE_INTERVAL,
        duration_in(&args.schedule_interval, SCHEDULE_RANGE),
    );
    let max_body_bytes = p.note(
        MAX_BODY_BYTES,
        count_in(&args.max_body_bytes, MAX_BODY_RANGE),
    );
    let concurrent_rotations = p.note(
        CONCURRENT_ROTATIONS,
        count_in(&args.concurrent_rotations, CONCURRENT_ROTATIONS_RANGE),
    );
    let header_timeout = p.note(
        HEADER_TIMEOUT,
        duration_in(&args.header_timeout, HEADER_TIMEOUT_RANGE),
    );
    let body_timeout = p.note(
        BODY_TIMEOUT,
        duration_in(&args.body_timeout, BODY_TIMEOUT_RANGE),
    );
    let max_connections = p.note(
        MAX_CONNECTIONS,
        count_in(&args.max_connections, MAX_CONNECTIONS_RANGE),
    );
    let body_budget_bytes = p
        .note(
            BODY_BUDGET_BYTES,
            count_in(&args.body_budget_bytes, BODY_BUDGET_RANGE),
        )
        .and_then(|budget| {
            let fits = match max_body_bytes {
                Some(body) if budget < body => Err(format!(
                    "{budget} is less than --{} ({body}): one whole body must fit",
                    MAX_BODY_BYTES.flag
                )),
                _ => Ok(budget),
            };
            p.note(BODY_BUDGET_BYTES, fits)
        });
    let scrub_every = p.note(
        SCRUB_INTERVAL,
        duration_in(&args.scrub_interval, SCRUB_RANGE),
    );
    let retry_attempts = p.note(
        RETRY_ATTEMPTS,
        count_in(&args.retry_attempts, RETRY_ATTEMPTS_RANGE),
    );
    let retry_max_wait = p.note(
        RETRY_MAX_WAIT,
        duration_in(&args.retry_max_wait, RETRY_MAX_WAIT_RANGE),
    );
    let max_waiting_age = p.note(
        READY_MAX_WAITING,
        duration_in(&args.ready_max_waiting, READY_MAX_WAITING_RANGE),
    );

    let (
        Some(app_key),
        Some(webhook_secrets),
        Some(github_api_url),
        Some(identities),
        Some(identity_file),
        Some(database_url),
        Some(listen),
        Some(log_format),
        Some(reconcile_every),
        Some(schedule_every),
        Some(max_body_bytes),
        Some(concurrent_rotations),
        Some(header_timeout),
        Some(body_timeout),
        Some(max_connections),
        Some(body_budget_bytes),
        Some(scrub_every),
        Some(retry_attempts),
        Some(retry_max_wait),
        Some(max_waiting_age),
        true,
    ) = (
        app_key,
        webhook_secrets,
        github_api_url,
        identities,
        identity_file,
        database_url,
        listen,
        log_format,
        reconcile_every,
        schedule_every,
        max_body_bytes,
        concurrent_rotations,
        header_timeout,
        body_timeout,
        max_connections,
        body_budget_bytes,
        scrub_every,
        retry_attempts,
        retry_max_wait,
        max_waiting_age,
        p.0.is_empty(),
    )
    else {
        return Err(p.0);
    };
    Ok(Checked {
        settings: Settings {
            app_key,
            webhook_secrets,
            github_api_url,
            identities,
            database_url,
            listen,
            max_body_bytes: as_usize(max_body_bytes),
            reconcile_every,
            schedule_every,
            concurrent_rotations: as_usize(concurrent_rotations),
            client: ClientOptions::default(),
            people: People {
                operators: list(&args.operators),
                admins: list(&args.admins),
            },
            identity_file,
            front_door: FrontDoor {
                header_timeout,
                body_timeout,
                max_connections: as_usize(max_connections),
                body_budget_bytes: as_usize(body_budget_bytes),
            },
            scrub_every,
            delivery: DeliveryOptions {
                retry: RetryPolicy {
                    first_wait: RetryPolicy::default().first_wait.min(retry_max_wait),
                    max_wait: retry_max_wait,
                    attempts: u32::try_from(retry_attempts).unwrap_or(u32::MAX),
                },
                max_waiting_age,
            },
        },
        log_format,
    })
}

/// Every range's maximum fits in 32 bits, so this never saturates on the platforms keyroll
/// runs on; it would rather clamp than wrap.
fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn required(value: Option<&str>) -> Result<String, String> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err("not set; serve needs it".to_owned()),
    }
}

fn required_path(value: Option<OsString>) -> Result<PathBuf, String> {
    match value {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => Err("not set; serve needs it".to_owned()),
    }
}

/// A key file's bytes: a regular file of at most [`MAX_KEY_FILE`] bytes.
fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_KEY_FILE) {
        return Err(format!(
            "{shown}: over {MAX_KEY_FILE} bytes; not a key file"
        ));
    }
    Ok(bytes)
}

fn api_url(text: &str) -> Result<String, String> {
    let api = text.trim().trim_end_matches('/');
    let host = api
        .strip_prefix("https://")
        .or_else(|| api.strip_prefix("http://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(api.to_owned()),
        _ => Err(format!("{text:?} is not an http(s) URL")),
    }
}

fn database_url(text: &str) -> Result<String, String> {
    if !text.starts_with("sqlite:") {
        return Err(format!(
            "{text:?}: only SQLite (sqlite://FILE) is supported"
        ));
    }
    crate::store::Store::check_url(text).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(text.to_owned())
}

fn listen(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|e| format!("{text:?}: {e} (write HOST:PORT, like 127.0.0.1:8080)"))
}

fn log_format(text: &str) -> Result<LogFormat, String> {
    match text.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("{text:?}: write text or json")),
    }
}

/// A whole number within `range`.
fn count_in(text: &str, range: Count) -> Result<u64, String> {
    let t = text.trim();
    let n: u64 = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse().map_err(|_| format!("{text:?} is too large"))
    } else {
        Err(format!("{text:?} is not a whole number"))
    }
    .map_err(|e| format!("{e}; write one from {} to {}", range.min, range.max))?;
    if n < range.min || n > range.max {
        return Err(format!(
            "{n} is out of range; write one from {} to {}",
            range.min, range.max
        ));
    }
    Ok(n)
}

/// The units a duration setting may use, in milliseconds.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// A number and a unit (`500ms`, `30s`, `5m`, `1h`, `7d`) within `range`.
pub fn duration_in(text: &str, range: Span) -> Result<Duration, String> {
    let wanted = || format!("between {} and {}", show(range.min), show(range.max));
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let per = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ms)| *ms);
    let (Some(per), false) = (per, number.is_empty()) else {
        return Err(format!(
            "{text:?} is not a duration: write a number and a unit (ms, s, m, h, d), {}",
            wanted()
        ));
    };
    let millis = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .ok_or_else(|| format!("{text:?} is out of range; write one {}", wanted()))?;
    let d = Duration::from_millis(millis);
    if d < range.min || d > range.max {
        return Err(format!("{text:?} is out of range; write one {}", wanted()));
    }
    Ok(d)
}

/// A duration in its largest whole unit (`90s`, `5m`, `7d`).
fn show(d: Duration) -> String {
    let ms = d.as_millis();
    UNITS
        .iter()
        .rev()
        .find(|(_, per)| ms.is_multiple_of(u128::from(*per)) && ms >= u128::from(*per))
        .map_or_else(
            || format!("{ms}ms"),
            |(name, per)| format!("{}{name}", ms / u128::from(*per)),
        )
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
