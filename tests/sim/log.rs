//! The request log: every request the client sent, kept in memory and appended as one JSON
//! line to `target/github-requests.jsonl`, the format `github-openapi-check` reads.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

/// One request as the client sent it, and the status it got.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// The URL path as sent (percent-encoding kept).
    pub path: String,
    pub query: BTreeMap<String, Vec<String>>,
    /// The parsed JSON body; a body that is not JSON is kept as a string; `Null` when empty.
    pub body: Value,
    /// Lower-case header names; `authorization` is `[redacted]`.
    pub headers: BTreeMap<String, String>,
    pub status: u16,
}

/// Where every simulation of every test process appends its log:
/// `target/github-requests.jsonl`, or `KEYROLL_SIM_REQUEST_LOG` when set.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROLL_SIM_REQUEST_LOG") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/github-requests.jsonl")
}

impl LoggedRequest {
    pub fn from_request(req: &wiremock::Request) -> Self {
        let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in req.url.query_pairs() {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        let body = if req.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&req.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&req.body).into_owned()))
        };
        let mut headers = BTreeMap::new();
        for (name, value) in &req.headers {
            let name = name.as_str().to_lowercase();
            let value = if name == "authorization" {
                "[redacted]".to_owned()
            } else {
                value.to_str().unwrap_or("[not text]").to_owned()
            };
            headers
                .entry(name)
                .and_modify(|v: &mut String| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        LoggedRequest {
            method: req.method.as_str().to_owned(),
            path: req.url.path().to_owned(),
            query,
            body,
            headers,
            status: 0,
        }
    }

    /// The line for the checker: `{"method","path","query","body","headers"}`.
    pub fn line(&self) -> String {
        let query: serde_json::Map<String, Value> = self
            .query
            .iter()
            .map(|(k, v)| {
                let v = match v.as_slice() {
                    [one] => Value::String(one.clone()),
                    many => Value::Array(many.iter().cloned().map(Value::String).collect()),
                };
                (k.clone(), v)
            })
            .collect();
        json!({
            "method": self.method,
            "path": self.path,
            "query": query,
            "body": self.body,
            "headers": self.headers,
        })
        .to_string()
    }
}

static FILE_LOCK: Mutex<()> = Mutex::new(());

/// Appends one line with a single write, so lines of several processes never interleave.
pub fn append(path: &Path, line: &str) {
    let _guard = FILE_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&bytes));
    if let Err(e) = written {
        panic!("cannot append to the request log {}: {e}", path.display());
    }
}
