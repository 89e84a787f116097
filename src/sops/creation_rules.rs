//! `.sops.yaml` creation rules: which recipients and which encryption rule a new file gets.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use super::encrypt::EncryptOptions;
use super::error::SopsError;
use super::rules::{RULE_FIELDS, Rule};

/// How far up from the working directory `.sops.yaml` is looked for, as in sops.
const MAX_DEPTH: usize = 100;

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    creation_rules: Vec<RawRule>,
}

/// Recipients given as `"a,b"` or as a YAML list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn items(&self) -> Vec<String> {
        let split = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match self {
            StringOrList::One(s) => split(s),
            StringOrList::Many(v) => v.iter().flat_map(|s| split(s)).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawRule {
    path_regex: Option<String>,
    age: Option<StringOrList>,
    key_groups: Option<Vec<RawGroup>>,
    shamir_threshold: Option<usize>,
    mac_only_encrypted: Option<bool>,
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<String>,
    encrypted_regex: Option<String>,
    unencrypted_comment_regex: Option<String>,
    encrypted_comment_regex: Option<String>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    #[serde(default)]
    age: Vec<String>,
    #[serde(default)]
    merge: Vec<RawGroup>,
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, serde_norway::Value>,
}

impl RawGroup {
    fn recipients(&self, out: &mut Vec<String>) -> Result<(), String> {
        if let Some(kind) = non_age_keys(&self.other) {
            return Err(kind);
        }
        for r in &self.age {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        for m in &self.merge {
            m.recipients(out)?;
        }
        Ok(())
    }
}

/// The first non-age key kind a rule or group lists, which keyroll cannot encrypt to.
fn non_age_keys(other: &std::collections::BTreeMap<String, serde_norway::Value>) -> Option<String> {
    const KINDS: [&str; 7] = [
        "pgp",
        "kms",
        "gcp_kms",
        "azure_keyvault",
        "hc_vault_transit_uri",
        "hc_vault",
        "hckms",
    ];
    KINDS.iter().find_map(|k| match other.get(*k) {
        Some(serde_norway::Value::Null) | None => None,
        Some(serde_norway::Value::String(s)) if s.is_empty() => None,
        Some(serde_norway::Value::Sequence(s)) if s.is_empty() => None,
        Some(_) => Some((*k).to_owned()),
    })
}

/// Finds `.sops.yaml` by walking up from `start`.
pub fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .take(MAX_DEPTH)
        .map(|d| d.join(".sops.yaml"))
        .find(|p| p.is_file())
}

/// The options the first matching creation rule gives `file`.
pub fn options_for(config: &Path, file: &Path) -> Result<EncryptOptions, SopsError> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| SopsError::Config(format!("cannot read {}: {e}", config.display())))?;
    let parsed: ConfigFile = serde_norway::from_str(&text)
        .map_err(|e| SopsError::Config(format!("{}: {e}", config.display())))?;
    let base = config.parent().unwrap_or(Path::new("."));
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let base_abs = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let relative = absolute.strip_prefix(&base_abs).unwrap_or(&absolute);
    let subject = relative.to_string_lossy();
    for (n, rule) in parsed.creation_rules.iter().enumerate() {
        let at = format!("{}: creation_rules[{n}]", config.display());
        let matches = match &rule.path_regex {
            None => true,
            Some(re) => Regex::new(re)
                .map_err(|e| SopsError::Config(format!("{at}.path_regex: {e}")))?
                .is_match(&subject),
        };
        if matches {
            return rule_options(rule).map_err(|e| SopsError::Config(format!("{at}: {e}")));
        }
    }
    Err(SopsError::NoCreationRule(format!(
        "no creation rule in {} matches {subject}",
        config.display()
    )))
}

fn rule_options(rule: &RawRule) -> Result<EncryptOptions, String> {
    if let Some(kind) = non_age_keys(&rule.other) {
        return Err(format!(
            "lists `{kind}` keys; keyroll encrypts to age recipients only"
        ));
    }
    let (groups, key_groups) = match &rule.key_groups {
        Some(groups) => {
            let mut out = Vec::new();
            for g in groups {
                let mut recipients = Vec::new();
                g.recipients(&mut recipients).map_err(|kind| {
                    format!(
                        "a key group lists `{kind}` keys; keyroll encrypts to age recipients only"
                    )
                })?;
                out.push(recipients);
            }
            (out, true)
        }
        None => (
            vec![
                rule.age
                    .as_ref()
                    .map(StringOrList::items)
                    .unwrap_or_default(),
            ],
            false,
        ),
    };
    let fields = [
        &rule.unencrypted_suffix,
        &rule.encrypted_suffix,
        &rule.unencrypted_regex,
        &rule.encrypted_regex,
        &rule.unencrypted_comment_regex,
        &rule.encrypted_comment_regex,
    ];
    let mut chosen = None;
    for (field, value) in RULE_FIELDS.iter().zip(fields) {
        if let Some(v) = value {
            if chosen.is_some() {
                return Err("more than one of the *_suffix / *_regex rules is set".into());
            }
            chosen = Some(Rule::from_field(field, v).map_err(|e| e.to_string())?);
        }
    }
    Ok(EncryptOptions {
        groups,
        threshold: rule.shamir_threshold,
        key_groups,
        rule: chosen.unwrap_or_default(),
        mac_only_encrypted: rule.mac_only_encrypted.unwrap_or(false),
    })
}
