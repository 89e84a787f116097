//! Writes new text into a file: values set by `set`, and the metadata block of a file that
//! `encrypt` creates. New YAML follows sops's layout (block style, the file's indent step,
//! lists indented under their key); new JSON follows the file's indentation.

use std::ops::Range;

use super::cipher::EncValue;
use super::error::SopsError;
use super::file::{SopsFile, additional_data, rule_encrypts};
use super::format::{Format, line_end, only_indent_before};
use super::metadata::KeyGroup;
use super::new_value::NewValue;
use super::rules::Rule;
use super::secret::{DataKey, PlainValue};
use super::tree::{ListNode, MapNode, Node};
use super::value::{json_string, render_dotenv, render_json, render_yaml, yaml_string};

/// The sops version keyroll's files declare: the format version it implements and is
/// tested against.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// Renders new values for one file, encrypting them as the file's rule says, and remembers
/// each value it wrote (for the MAC).
pub(crate) struct Emitter<'a> {
    format: Format,
    text: &'a str,
    rule: &'a Rule,
    key: &'a DataKey,
    step: usize,
    json_unit: String,
    leaves: Vec<(Option<PlainValue>, bool)>,
}

impl<'a> Emitter<'a> {
    pub fn new(file: &'a SopsFile, key: &'a DataKey) -> Self {
        let (step, json_unit) = detect_indent(file);
        Self {
            format: file.format,
            text: &file.text,
            rule: &file.meta.rule,
            key,
            step,
            json_unit,
            leaves: Vec::new(),
        }
    }

    pub fn take_leaves(&mut self) -> Vec<(Option<PlainValue>, bool)> {
        std::mem::take(&mut self.leaves)
    }

    /// One scalar: `ENC[...]` where the rule encrypts, the typed clear text where it does
    /// not, `""` for an empty string (sops never encrypts those).
    pub fn scalar(
        &mut self,
        value: Option<&PlainValue>,
        keys: &[&str],
        in_flow: bool,
    ) -> Result<String, SopsError> {
        let Some(v) = value else {
            self.leaves.push((None, false));
            return Ok(if self.format == Format::Dotenv {
                String::new()
            } else {
                "null".into()
            });
        };
        let encrypt = rule_encrypts(self.rule, keys, true) && !v.is_empty();
        self.leaves.push((Some(v.clone()), encrypt));
        let mut out = String::new();
        if encrypt {
            let enc = EncValue::encrypt(v, self.key, additional_data(keys).as_bytes())
                .map_err(|e| SopsError::Encrypt(e.to_string()))?
                .render();
            match self.format {
                Format::Yaml if in_flow => json_string(&enc, &mut out),
                Format::Yaml | Format::Dotenv => out = enc,
                Format::Json => json_string(&enc, &mut out),
            }
        } else {
            match self.format {
                Format::Yaml if v.is_empty() => out.push_str("\"\""),
                Format::Yaml => render_yaml(v, &mut out, in_flow),
                Format::Json => render_json(v, &mut out),
                Format::Dotenv => render_dotenv(v, &mut out),
            }
        }
        Ok(out)
    }

    /// The text after `key:` for a block entry whose key sits at column `indent`.
    pub fn yaml_entry_value(
        &mut self,
        v: &NewValue,
        keys: &[&str],
        indent: usize,
    ) -> Result<String, SopsError> {
        let child = indent + self.step;
        Ok(match v {
            NewValue::Null => format!(" {}", self.scalar(None, keys, false)?),
            NewValue::Scalar(p) => format!(" {}", self.scalar(Some(p), keys, false)?),
            NewValue::Map(m) if m.is_empty() => " {}".into(),
            NewValue::List(l) if l.is_empty() => " []".into(),
            NewValue::Map(m) => {
                let mut out = String::new();
                for (k, val) in m {
                    out.push('\n');
                    out.push_str(&" ".repeat(child));
                    yaml_string(k, &mut out, false);
                    out.push(':');
                    let mut path = keys.to_vec();
                    path.push(k);
                    out.push_str(&self.yaml_entry_value(val, &path, child)?);
                }
                out
            }
            NewValue::List(items) => {
                let mut out = String::new();
                for item in items {
                    out.push('\n');
                    out.push_str(&" ".repeat(child));
                    out.push_str("- ");
                    out.push_str(&self.yaml_item(item, keys, child + 2)?);
                }
                out
            }
        })
    }

    /// A list item's text after `- `, its nested lines at column `col`.
    fn yaml_item(&mut self, v: &NewValue, keys: &[&str], col: usize) -> Result<String, SopsError> {
        Ok(match v {
            NewValue::Null => self.scalar(None, keys, false)?,
            NewValue::Scalar(p) => self.scalar(Some(p), keys, false)?,
            NewValue::Map(m) if m.is_empty() => "{}".into(),
            NewValue::List(l) if l.is_empty() => "[]".into(),
            NewValue::Map(m) => {
                let mut out = String::new();
                for (i, (k, val)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(col));
                    }
                    yaml_string(k, &mut out, false);
                    out.push(':');
                    let mut path = keys.to_vec();
                    path.push(k);
                    out.push_str(&self.yaml_entry_value(val, &path, col)?);
                }
                out
            }
            NewValue::List(items) => {
                let mut out = String::new();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(col));
                    }
                    out.push_str("- ");
                    out.push_str(&self.yaml_item(item, keys, col + 2)?);
                }
                out
            }
        })
    }

    /// A value in YAML flow style (`{a: 1, b: [x]}`).
    pub fn yaml_flow(&mut self, v: &NewValue, keys: &[&str]) -> Result<String, SopsError> {
        Ok(match v {
            NewValue::Null => self.scalar(None, keys, true)?,
            NewValue::Scalar(p) => self.scalar(Some(p), keys, true)?,
            NewValue::Map(m) => {
                let mut parts = Vec::new();
                for (k, val) in m {
                    let mut key = String::new();
                    yaml_string(k, &mut key, true);
                    let mut path = keys.to_vec();
                    path.push(k);
                    parts.push(format!("{key}: {}", self.yaml_flow(val, &path)?));
                }
                format!("{{{}}}", parts.join(", "))
            }
            NewValue::List(items) => {
                let mut parts = Vec::new();
                for item in items {
                    parts.push(self.yaml_flow(item, keys)?);
                }
                format!("[{}]", parts.join(", "))
            }
        })
    }

    /// A JSON value whose opening line is indented by `prefix`.
    pub fn json(&mut self, v: &NewValue, keys: &[&str], prefix: &str) -> Result<String, SopsError> {
        let inner = format!("{prefix}{}", self.json_unit);
        Ok(match v {
            NewValue::Null => self.scalar(None, keys, true)?,
            NewValue::Scalar(p) => self.scalar(Some(p), keys, true)?,
            NewValue::Map(m) if m.is_empty() => "{}".into(),
            NewValue::List(l) if l.is_empty() => "[]".into(),
            NewValue::Map(m) => {
                let mut parts = Vec::new();
                for (k, val) in m {
                    let mut key = String::new();
                    json_string(k, &mut key);
                    let mut path = keys.to_vec();
                    path.push(k);
                    parts.push(format!("{inner}{key}: {}", self.json(val, &path, &inner)?));
                }
                format!("{{\n{}\n{prefix}}}", parts.join(",\n"))
            }
            NewValue::List(items) => {
                let mut parts = Vec::new();
                for item in items {
                    parts.push(format!("{inner}{}", self.json(item, keys, &inner)?));
                }
                format!("[\n{}\n{prefix}]", parts.join(",\n"))
            }
        })
    }

    /// Adds `key: value` at the end of `map` (whose own path is `keys`).
    pub fn insert_entry(
        &mut self,
        map: &MapNode,
        keys: &[&str],
        key: &str,
        v: &NewValue,
    ) -> Result<(Range<usize>, String), SopsError> {
        let mut path = keys.to_vec();
        path.push(key);
        match self.format {
            Format::Dotenv => {
                let NewValue::Scalar(p) = v else {
                    return Err(SopsError::InvalidValue(
                        "a dotenv value must be a string".into(),
                    ));
                };
                let at = map.entries.last().map_or(0, |e| {
                    (line_end(self.text, e.value.content_end()) + 1).min(self.text.len())
                });
                let lead = if at > 0 && !self.text.get(..at).unwrap_or("").ends_with('\n') {
                    "\n"
                } else {
                    ""
                };
                let value = self.scalar(Some(p), &path, false)?;
                Ok((at..at, format!("{lead}{key}={value}\n")))
            }
            Format::Yaml if !map.flow => {
                let mut line = String::new();
                yaml_string(key, &mut line, false);
                line.push(':');
                match map.entries.last() {
                    Some(last) => {
                        let at = line_end(self.text, last.value.content_end());
                        line.push_str(&self.yaml_entry_value(v, &path, map.indent)?);
                        Ok((at..at, format!("\n{}{line}", " ".repeat(map.indent))))
                    }
                    None => {
                        // An empty document: the entry goes before the metadata.
                        let at = map.span.start;
                        line.push_str(&self.yaml_entry_value(v, &path, 0)?);
                        Ok((at..at, format!("{line}\n")))
                    }
                }
            }
            Format::Yaml => {
                let mut k = String::new();
                yaml_string(key, &mut k, true);
                let value = self.yaml_flow(v, &path)?;
                Ok(flow_insert(
                    map.span.clone(),
                    map.entries.is_empty(),
                    &format!("{k}: {value}"),
                    '{',
                    '}',
                ))
            }
            Format::Json => {
                let mut k = String::new();
                json_string(key, &mut k);
                match map.entries.first().zip(map.entries.last()) {
                    Some((first, last)) => {
                        let at = last.value.content_end();
                        if only_indent_before(self.text, first.key_span.start) {
                            let prefix = super::edit::indent_of(self.text, first.key_span.start);
                            let value = self.json(v, &path, &prefix)?;
                            Ok((at..at, format!(",\n{prefix}{k}: {value}")))
                        } else {
                            let value = self.json(v, &path, "")?;
                            Ok((at..at, format!(", {k}: {value}")))
                        }
                    }
                    None => {
                        let prefix = super::edit::indent_of(self.text, map.span.start);
                        let inner = format!("{prefix}{}", self.json_unit);
                        let value = self.json(v, &path, &inner)?;
                        Ok((
                            map.span.clone(),
                            format!("{{\n{inner}{k}: {value}\n{prefix}}}"),
                        ))
                    }
                }
            }
        }
    }

    /// Appends an item to `list` (whose path is `keys`).
    pub fn insert_item(
        &mut self,
        list: &ListNode,
        keys: &[&str],
        v: &NewValue,
    ) -> Result<(Range<usize>, String), SopsError> {
        match self.format {
            Format::Dotenv => Err(SopsError::InvalidPath("a dotenv file has no lists".into())),
            Format::Yaml if !list.flow => {
                let last = list
                    .items
                    .last()
                    .map_or(list.span.start, |i| i.node.content_end());
                let at = line_end(self.text, last);
                let item = self.yaml_item(v, keys, list.indent + 2)?;
                Ok((at..at, format!("\n{}- {item}", " ".repeat(list.indent))))
            }
            Format::Yaml => {
                let value = self.yaml_flow(v, keys)?;
                Ok(flow_insert(
                    list.span.clone(),
                    list.items.is_empty(),
                    &value,
                    '[',
                    ']',
                ))
            }
            Format::Json => match list.items.first().zip(list.items.last()) {
                Some((first, last)) => {
                    let at = last.node.content_end();
                    if only_indent_before(self.text, first.start) {
                        let prefix = super::edit::indent_of(self.text, first.start);
                        let value = self.json(v, keys, &prefix)?;
                        Ok((at..at, format!(",\n{prefix}{value}")))
                    } else {
                        let value = self.json(v, keys, "")?;
                        Ok((at..at, format!(", {value}")))
                    }
                }
                None => {
                    let prefix = super::edit::indent_of(self.text, list.span.start);
                    let inner = format!("{prefix}{}", self.json_unit);
                    let value = self.json(v, keys, &inner)?;
                    Ok((list.span.clone(), format!("[\n{inner}{value}\n{prefix}]")))
                }
            },
        }
    }
}

/// Inserts `element` into a flow collection spanning `span`.
fn flow_insert(
    span: Range<usize>,
    empty: bool,
    element: &str,
    open: char,
    close: char,
) -> (Range<usize>, String) {
    if empty {
        (span, format!("{open}{element}{close}"))
    } else {
        let at = span.end.saturating_sub(1);
        (at..at, format!(", {element}"))
    }
}

/// The YAML indent step (from the metadata block, as sops wrote it) and the JSON indent unit
/// (from the first key), with sops's defaults of 4 spaces and a tab.
fn detect_indent(file: &SopsFile) -> (usize, String) {
    let step = file
        .docs
        .first()
        .and_then(|d| d.sops.as_ref())
        .and_then(|s| match &s.value {
            Node::Map(m) if !m.flow && m.indent > 0 => Some(m.indent),
            _ => None,
        })
        .unwrap_or(4);
    let unit = file
        .docs
        .first()
        .and_then(|d| d.root.entries.first())
        .map(|e| super::edit::indent_of(&file.text, e.key_span.start))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "\t".to_owned());
    (step, unit)
}

/// Everything the metadata block of a new file holds.
#[derive(Debug)]
pub(crate) struct MetaBlock<'a> {
    pub groups: &'a [KeyGroup],
    pub key_groups: bool,
    pub threshold: Option<usize>,
    pub lastmodified: &'a str,
    pub mac: &'a str,
    pub rule: &'a Rule,
    pub mac_only_encrypted: bool,
}

impl MetaBlock<'_> {
    /// The block as a JSON value, keys in the order sops writes them.
    fn to_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let stanzas = |g: &KeyGroup| -> Value {
            Value::Array(
                g.age
                    .iter()
                    .map(|s| json!({"recipient": s.recipient, "enc": s.enc}))
                    .collect(),
            )
        };
        let mut m = Map::new();
        if self.key_groups {
            if let Some(t) = self.threshold {
                m.insert("shamir_threshold".into(), json!(t));
            }
            let groups: Vec<Value> = self
                .groups
                .iter()
                .map(|g| json!({"hc_vault": [], "age": stanzas(g)}))
                .collect();
            m.insert("key_groups".into(), Value::Array(groups));
        } else if let Some(g) = self.groups.first() {
            m.insert("age".into(), stanzas(g));
        }
        m.insert("lastmodified".into(), json!(self.lastmodified));
        m.insert("mac".into(), json!(self.mac));
        let (field, value) = self.rule.field();
        m.insert(field.into(), json!(value));
        if self.mac_only_encrypted {
            m.insert("mac_only_encrypted".into(), json!(true));
        }
        m.insert("version".into(), json!(SOPS_FORMAT_VERSION));
        Value::Object(m)
    }

    /// The YAML `sops:` entry, sops-style: 4-space indent, `enc` as a literal block.
    pub fn yaml(&self) -> String {
        let mut out = String::from("sops:\n");
        yaml_value(&self.to_json(), 4, &mut out);
        out
    }

    /// The JSON `"sops": {...}` member, indented with `unit`.
    pub fn json_member(&self, unit: &str) -> String {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(unit.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        let _ = serde::Serialize::serialize(&self.to_json(), &mut ser);
        let body = String::from_utf8_lossy(&buf).replace('\n', &format!("\n{unit}"));
        format!("{unit}\"sops\": {body}")
    }

    /// The flattened `sops_*` lines of a dotenv file, sorted as sops writes them.
    pub fn dotenv(&self) -> String {
        let mut flat = Vec::new();
        flatten("sops", &self.to_json(), &mut flat);
        flat.sort();
        flat.iter()
            .map(|(k, v)| format!("{k}={}\n", v.replace('\n', "\\n")))
            .collect()
    }
}

fn yaml_value(v: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    if let Value::Object(m) = v {
        for (k, val) in m {
            out.push_str(&pad);
            out.push_str(k);
            out.push(':');
            yaml_child(val, indent, out);
        }
    }
}

fn yaml_child(val: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    match val {
        Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Object(_) => {
            out.push('\n');
            yaml_value(val, indent + 4, out);
        }
        Value::Array(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + 4));
                out.push_str("- ");
                match item {
                    Value::Object(m) => {
                        for (i, (k, v)) in m.iter().enumerate() {
                            if i > 0 {
                                out.push_str(&" ".repeat(indent + 6));
                            }
                            out.push_str(k);
                            out.push(':');
                            yaml_child(v, indent + 6, out);
                        }
                    }
                    other => {
                        yaml_scalar(other, out);
                        out.push('\n');
                    }
                }
            }
        }
        Value::String(s) if s.contains('\n') => {
            out.push_str(" |\n");
            for line in s.lines() {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(line);
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            yaml_scalar(other, out);
            out.push('\n');
        }
    }
}

fn yaml_scalar(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) if s.starts_with("ENC[") => out.push_str(s),
        serde_json::Value::String(s) => yaml_string(s, out, false),
        other => out.push_str(&other.to_string()),
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = if prefix == "sops" {
                    format!("sops_{k}")
                } else {
                    format!("{prefix}__map_{k}")
                };
                flatten(&key, val, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}__list_{i}"), item, out);
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}
