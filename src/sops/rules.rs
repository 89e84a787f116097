//! Which values of a file are encrypted: the one `*_suffix` / `*_regex` rule sops allows
//! per file, applied to every key on a value's path.

use regex::Regex;

use super::error::SopsError;

#[derive(Debug, Clone)]
pub enum Rule {
    UnencryptedSuffix(String),
    EncryptedSuffix(String),
    UnencryptedRegex(Regex),
    EncryptedRegex(Regex),
    UnencryptedCommentRegex(Regex),
    EncryptedCommentRegex(Regex),
}

/// The metadata and `.sops.yaml` field of each rule, in the order sops writes them.
pub const RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

impl Default for Rule {
    /// Without a rule sops encrypts everything except keys ending in `_unencrypted`.
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".to_owned())
    }
}

impl Rule {
    /// Builds the rule from a field lookup; more than one rule is an error, as in sops.
    pub fn from_metadata(
        mut get: impl FnMut(&str) -> Result<Option<String>, SopsError>,
    ) -> Result<Self, SopsError> {
        let mut found = None;
        for field in RULE_FIELDS {
            if let Some(v) = get(field)? {
                if found.is_some() {
                    return Err(SopsError::BadMetadata(
                        "more than one of the *_suffix / *_regex rules is set".into(),
                    ));
                }
                found = Some(Self::from_field(field, &v)?);
            }
        }
        Ok(found.unwrap_or_default())
    }

    pub fn from_field(field: &str, value: &str) -> Result<Self, SopsError> {
        let re = || {
            Regex::new(value)
                .map_err(|e| SopsError::BadMetadata(format!("`{field}` is not a valid regex: {e}")))
        };
        Ok(match field {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value.to_owned()),
            "encrypted_suffix" => Rule::EncryptedSuffix(value.to_owned()),
            "unencrypted_regex" => Rule::UnencryptedRegex(re()?),
            "encrypted_regex" => Rule::EncryptedRegex(re()?),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(re()?),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(re()?),
            other => return Err(SopsError::BadMetadata(format!("unknown rule `{other}`"))),
        })
    }

    /// The metadata field name and value, for writing.
    pub fn field(&self) -> (&'static str, &str) {
        match self {
            Rule::UnencryptedSuffix(s) => ("unencrypted_suffix", s),
            Rule::EncryptedSuffix(s) => ("encrypted_suffix", s),
            Rule::UnencryptedRegex(r) => ("unencrypted_regex", r.as_str()),
            Rule::EncryptedRegex(r) => ("encrypted_regex", r.as_str()),
            Rule::UnencryptedCommentRegex(r) => ("unencrypted_comment_regex", r.as_str()),
            Rule::EncryptedCommentRegex(r) => ("encrypted_comment_regex", r.as_str()),
        }
    }

    /// Whether a value at this key path is encrypted. `None` for the comment rules, which
    /// depend on the comment above the value rather than on its path.
    pub fn encrypts_path(&self, path: &[&str]) -> Option<bool> {
        Some(match self {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Rule::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_) => return None,
        })
    }

    /// Whether a comment with this text is encrypted.
    pub fn encrypts_comment(&self, text: &str) -> bool {
        match self {
            Rule::UnencryptedCommentRegex(r) => !r.is_match(text),
            Rule::EncryptedCommentRegex(r) => r.is_match(text),
            _ => true,
        }
    }
}
