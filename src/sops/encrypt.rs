//! Creates an encrypted file from plaintext, by splicing: each value's text is replaced by
//! its `ENC[...]` string and comments by `#ENC[...]`, and the metadata block is appended to
//! every document. The plaintext's own layout is kept.

use time::OffsetDateTime;

use super::cipher::EncValue;
use super::edit::{apply_splices, indent_of};
use super::emit::MetaBlock;
use super::error::SopsError;
use super::file::{Outline, additional_data, clear_value, walk_map};
use super::format::{Format, line_col};
use super::keys;
use super::mac::{self, MacInput};
use super::rules::Rule;
use super::secret::{DataKey, PlainValue};
use super::tree::Document;
use super::value::json_string;

/// Who can open a new file and which of its values are encrypted.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// One list of age recipients per key group; one group means no Shamir sharing.
    pub groups: Vec<Vec<String>>,
    /// How many groups are needed to open the file (default: all of them).
    pub threshold: Option<usize>,
    /// Whether to write `key_groups:` even for one group (as `.sops.yaml` key groups do).
    pub key_groups: bool,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
}

impl EncryptOptions {
    /// One group of recipients, default rule.
    pub fn for_recipients(recipients: Vec<String>) -> Self {
        Self {
            groups: vec![recipients],
            threshold: None,
            key_groups: false,
            rule: Rule::default(),
            mac_only_encrypted: false,
        }
    }

    fn validate(&self) -> Result<(), SopsError> {
        if self.groups.is_empty() || self.groups.iter().any(Vec::is_empty) {
            return Err(SopsError::Encrypt("no age recipients to encrypt to".into()));
        }
        if self.groups.len() > 1 {
            let t = self.threshold.unwrap_or(self.groups.len());
            if t < 2 || t > self.groups.len() {
                return Err(SopsError::Encrypt(format!(
                    "shamir_threshold {t} must be between 2 and the number of key groups ({})",
                    self.groups.len()
                )));
            }
        }
        if matches!(
            self.rule,
            Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_)
        ) {
            return Err(SopsError::Encrypt(
                "keyroll does not create files with *_comment_regex rules; use sops -e for those"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Encrypts a plaintext document with a new data key.
pub fn encrypt(
    plaintext: &str,
    format: Format,
    opts: &EncryptOptions,
    now: OffsetDateTime,
) -> Result<String, SopsError> {
    opts.validate()?;
    let mut docs = format
        .parse(plaintext)
        .map_err(|e| SopsError::syntax(format, e))?;
    let result = encrypt_documents(plaintext, format, &docs, opts, now);
    // The tree holds copies of every plaintext value: wipe them.
    docs.iter_mut().for_each(Document::scrub);
    result
}

fn encrypt_documents(
    plaintext: &str,
    format: Format,
    docs: &[Document],
    opts: &EncryptOptions,
    now: OffsetDateTime,
) -> Result<String, SopsError> {
    if docs.iter().any(|d| d.sops.is_some()) {
        return Err(SopsError::AlreadyEncrypted);
    }
    let key = DataKey::generate()
        .map_err(|_| SopsError::Encrypt("the OS random number generator failed".into()))?;
    let groups = keys::seal(&key, &opts.groups, opts.threshold)?;

    let mut splices = Vec::new();
    let mut values: Vec<(PlainValue, bool)> = Vec::new();
    for doc in docs {
        if format == Format::Yaml && doc.root.flow {
            return Err(SopsError::Encrypt("a top-level flow mapping ({...}) cannot take a sops block; write it in block style".into()));
        }
        if format == Format::Yaml && doc.root.indent > 0 && !doc.root.entries.is_empty() {
            return Err(SopsError::Encrypt(format!(
                "line {}: the top-level mapping is indented; the sops block goes at column 0, so remove the indentation",
                line_col(plaintext, doc.root.span.start).0
            )));
        }
        let mut path = Vec::new();
        walk_map(&doc.root, &mut path, &mut |s, path, _| {
            let value = clear_value(s, false).map_err(|what| SopsError::Unsupported {
                at: super::error::Location {
                    path: path.join("."),
                    line: line_col(plaintext, s.span.start).0,
                },
                what: what.to_owned(),
            })?;
            let Some(value) = value else { return Ok(()) };
            let encrypt = opts.rule.encrypts_path(path).unwrap_or(true) && !value.is_empty();
            if encrypt {
                let enc = seal_value(&value, &key, &additional_data(path))?;
                let text = match format {
                    Format::Json => quoted(&enc),
                    Format::Yaml if s.in_flow => quoted(&enc),
                    _ => enc,
                };
                // YAML reads a tab before a plain scalar as part of it: the blanks between
                // `key:` and the value become one space.
                let mut start = s.span.start;
                let before = plaintext.get(..start).unwrap_or("");
                let blanks = before.len() - before.trim_end_matches([' ', '\t']).len();
                let text = if format == Format::Yaml
                    && before
                        .get(start - blanks..)
                        .is_some_and(|b| b.contains('\t'))
                {
                    start -= blanks;
                    format!(" {text}")
                } else {
                    text
                };
                splices.push((start..s.span.end, text));
            }
            values.push((value, encrypt));
            Ok(())
        })?;
        let outline = Outline::new(&doc.root);
        for c in &doc.comments {
            if opts.rule.encrypts_comment(&c.text) && !c.text.is_empty() {
                let ad = outline.comment_path_for_writing(c.span.start);
                let comment = PlainValue::new(
                    super::secret::ValueType::Comment,
                    c.text.as_bytes().to_vec(),
                );
                splices.push((
                    c.span.clone(),
                    format!("#{}", seal_value(&comment, &key, &ad)?),
                ));
            }
        }
    }

    let mac_hex = mac::compute(
        values.iter().map(|(v, enc)| MacInput {
            value: Some(v),
            encrypted: *enc,
            comment: false,
        }),
        opts.mac_only_encrypted,
    );
    let stamp = mac::format_stamp(now.to_offset(time::UtcOffset::UTC));
    let mac_enc = seal_value(&PlainValue::str(&mac_hex), &key, &stamp)?;
    let block = MetaBlock {
        groups: &groups,
        key_groups: opts.key_groups || opts.groups.len() > 1,
        threshold: (opts.groups.len() > 1).then(|| opts.threshold.unwrap_or(opts.groups.len())),
        lastmodified: &stamp,
        mac: &mac_enc,
        rule: &opts.rule,
        mac_only_encrypted: opts.mac_only_encrypted,
    };
    for doc in docs {
        let at = doc.end;
        let before = plaintext.get(..at).unwrap_or("");
        let text = match format {
            Format::Yaml => {
                let lead = if before.is_empty() || before.ends_with('\n') {
                    ""
                } else {
                    "\n"
                };
                format!("{lead}{}", block.yaml())
            }
            Format::Json => {
                let unit = doc
                    .root
                    .entries
                    .first()
                    .map(|e| indent_of(plaintext, e.key_span.start))
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "\t".to_owned());
                let comma = if doc.root.entries.is_empty() { "" } else { "," };
                let close = if doc.root.entries.is_empty() {
                    "\n"
                } else {
                    ""
                };
                format!("{comma}\n{}{close}", block.json_member(&unit))
            }
            Format::Dotenv => {
                let lead = if before.is_empty() || before.ends_with('\n') {
                    ""
                } else {
                    "\n"
                };
                format!("{lead}{}", block.dotenv())
            }
        };
        splices.push((at..at, text));
    }
    Ok(apply_splices(plaintext, splices))
}

fn seal_value(value: &PlainValue, key: &DataKey, ad: &str) -> Result<String, SopsError> {
    EncValue::encrypt(value, key, ad.as_bytes())
        .map(|e| e.render())
        .map_err(|e| SopsError::Encrypt(e.to_string()))
}

fn quoted(text: &str) -> String {
    let mut out = String::new();
    json_string(text, &mut out);
    out
}
