//! The `sops` metadata block: who can open the data key, which values are encrypted, the
//! MAC and when the file was last written.

use std::ops::Range;

use super::error::SopsError;
use super::rules::Rule;
use super::tree::{Document, MapNode, Node, Style};

/// One age recipient and the data key (or Shamir share) encrypted to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeStanza {
    pub recipient: String,
    /// The ASCII-armored age file holding the key material.
    pub enc: String,
}

/// A key group: each of its keys holds the whole data key (one group) or the same share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyGroup {
    pub age: Vec<AgeStanza>,
    /// Other master key kinds present (`pgp`, `kms`, …), which keyroll keeps but cannot use.
    pub other_kinds: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Metadata {
    pub groups: Vec<KeyGroup>,
    /// Present when the file uses key groups with Shamir sharing.
    pub shamir_threshold: Option<usize>,
    pub lastmodified: String,
    pub mac: String,
    pub rule: Rule,
    pub mac_only_encrypted: bool,
    pub version: String,
    /// Whether the file was written with key groups (`key_groups:`) rather than flat keys.
    pub uses_key_groups: bool,
}

/// Where the `lastmodified` and `mac` values sit, in every document's metadata block.
#[derive(Debug, Clone, Default)]
pub struct StampSpans {
    pub lastmodified: Vec<(Range<usize>, Style)>,
    pub mac: Vec<(Range<usize>, Style)>,
}

const KEY_KINDS: [&str; 7] = [
    "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp", "age",
];

impl Metadata {
    /// Reads the metadata of the first document (sops writes the same block into every
    /// document) and the stamp positions of all of them.
    pub fn from_documents(docs: &[Document]) -> Result<(Self, StampSpans), SopsError> {
        let first = docs
            .first()
            .and_then(|d| d.sops.as_ref())
            .ok_or(SopsError::NotEncrypted)?;
        let Node::Map(map) = &first.value else {
            return Err(SopsError::BadMetadata("`sops` must be a mapping".into()));
        };
        let meta = Self::from_map(map)?;
        let mut spans = StampSpans::default();
        for (n, doc) in docs.iter().enumerate() {
            let Some(Node::Map(m)) = doc.sops.as_ref().map(|s| &s.value) else {
                return Err(SopsError::BadMetadata(format!(
                    "document {} has no `sops` block",
                    n + 1
                )));
            };
            // A document of nothing but metadata is what pasting a `sops` block above a
            // file as a document of its own makes; sops would show it as an empty first
            // document and act on that. sops never writes one for a file with data.
            if docs.len() > 1 && doc.root.entries.is_empty() {
                return Err(SopsError::BadMetadata(format!(
                    "document {} holds nothing but a `sops` block",
                    n + 1
                )));
            }
            // sops reads the first document's block and ignores the others; keyroll restamps
            // them all, so they must say the same, as sops writes them.
            if doc
                .sops
                .as_ref()
                .is_some_and(|s| !super::strict::same_content(&first.value, &s.value))
            {
                return Err(SopsError::BadMetadata(format!(
                    "document {}'s `sops` block differs from the first document's",
                    n + 1
                )));
            }
            if let Some(Node::Scalar(s)) = m.get("lastmodified").map(|e| &e.value) {
                spans.lastmodified.push((s.span.clone(), s.style));
            }
            if let Some(Node::Scalar(s)) = m.get("mac").map(|e| &e.value) {
                spans.mac.push((s.span.clone(), s.style));
            }
        }
        Ok((meta, spans))
    }

    fn from_map(map: &MapNode) -> Result<Self, SopsError> {
        let version = scalar(map, "version")?.unwrap_or_default();
        if version.is_empty() {
            return Err(SopsError::MissingVersion);
        }
        if !version_sops_accepts(&version) {
            return Err(SopsError::BadMetadata(format!(
                "`version` {version:?} is not a semantic version (MAJOR.MINOR.PATCH); sops \
                 refuses the file"
            )));
        }
        let lastmodified = scalar(map, "lastmodified")?
            .ok_or_else(|| SopsError::BadMetadata("no `lastmodified`".into()))?;
        if super::mac::stamp_aad(&lastmodified).is_none() {
            return Err(SopsError::BadMetadata(
                "`lastmodified` is not an RFC 3339 time (sops refuses the file)".into(),
            ));
        }
        let mac = scalar(map, "mac")?.ok_or_else(|| SopsError::BadMetadata("no `mac`".into()))?;
        // sops counts a rule field only when it is not empty.
        let rule = Rule::from_metadata(|k| Ok(scalar(map, k)?.filter(|v| !v.is_empty())))?;
        let mac_only_encrypted = flag(map, "mac_only_encrypted")?;
        let flat = group(map)?;
        let flat_has_keys = !flat.age.is_empty() || !flat.other_kinds.is_empty();
        let (groups, uses_key_groups) = match map.get("key_groups").map(|e| &e.value) {
            // sops takes the flat key lists when there are any and ignores `key_groups`;
            // a file with both is refused rather than read one way here and another there.
            Some(Node::List(list)) if flat_has_keys && !list.items.is_empty() => {
                return Err(SopsError::BadMetadata(
                    "both `key_groups` and top-level key lists are set".into(),
                ));
            }
            Some(Node::List(list)) if !flat_has_keys => {
                let mut groups = Vec::new();
                for item in &list.items {
                    let Node::Map(g) = &item.node else {
                        return Err(SopsError::BadMetadata(
                            "each key group must be a mapping".into(),
                        ));
                    };
                    groups.push(group(g)?);
                }
                (groups, true)
            }
            Some(Node::List(_)) => (vec![flat], false),
            Some(_) => return Err(SopsError::BadMetadata("`key_groups` must be a list".into())),
            None => (vec![flat], false),
        };
        let shamir_threshold = threshold(map)?;
        Ok(Self {
            groups,
            shamir_threshold,
            lastmodified,
            mac,
            rule,
            mac_only_encrypted,
            version,
            uses_key_groups,
        })
    }

    /// Every age recipient of the file, for messages.
    pub fn age_recipients(&self) -> Vec<&str> {
        self.groups
            .iter()
            .flat_map(|g| g.age.iter().map(|s| s.recipient.as_str()))
            .collect()
    }

    /// Whether the file was written by a sops older than `major.minor.patch`.
    pub fn version_below(&self, want: (u32, u32, u32)) -> bool {
        let mut parts = self
            .version
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let have = (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        );
        have < want
    }
}

/// Whether sops can compare the file's `version` with its own (it refuses the file when it
/// cannot): a `1.`-prefixed legacy version, or a strict semantic version, `v` allowed.
fn version_sops_accepts(version: &str) -> bool {
    if version.starts_with("1.") {
        return true;
    }
    let v = version.strip_prefix('v').unwrap_or(version);
    let (v, build) = match v.split_once('+') {
        Some((v, b)) => (v, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let number = |p: &str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && !(p.len() > 1 && p.starts_with('0'))
            && p.parse::<u64>().is_ok()
    };
    let ident =
        |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| number(p))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|id| ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || number(id)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

fn group(map: &MapNode) -> Result<KeyGroup, SopsError> {
    let mut g = KeyGroup::default();
    for kind in KEY_KINDS {
        match map.get(kind).map(|e| &e.value) {
            None => {}
            Some(Node::List(list)) if kind == "age" => {
                for item in &list.items {
                    let Node::Map(m) = &item.node else {
                        return Err(SopsError::BadMetadata(
                            "each `age` entry must be a mapping".into(),
                        ));
                    };
                    g.age.push(AgeStanza {
                        recipient: scalar(m, "recipient")?.ok_or_else(|| {
                            SopsError::BadMetadata("an `age` entry has no `recipient`".into())
                        })?,
                        enc: scalar(m, "enc")?.ok_or_else(|| {
                            SopsError::BadMetadata("an `age` entry has no `enc`".into())
                        })?,
                    });
                }
            }
            Some(Node::List(list)) if !list.items.is_empty() => g.other_kinds.push(kind.to_owned()),
            Some(_) => {}
        }
    }
    Ok(g)
}

/// A boolean metadata field: a real boolean (YAML plain, JSON `true`/`false`, dotenv text),
/// as sops decodes it into a Go `bool`; a quoted `"true"` is refused, as sops refuses it.
fn flag(map: &MapNode, key: &str) -> Result<bool, SopsError> {
    match map.get(key).map(|e| &e.value) {
        None => Ok(false),
        Some(Node::Scalar(s)) => match (s.style, s.text.as_str()) {
            (Style::JsonNull, _) => Ok(false),
            (Style::Plain | Style::Dotenv, "true" | "True" | "TRUE")
            | (Style::JsonBool, "true") => Ok(true),
            (Style::Plain | Style::Dotenv, "false" | "False" | "FALSE")
            | (Style::JsonBool, "false") => Ok(false),
            _ => Err(SopsError::BadMetadata(format!(
                "`{key}` must be true or false"
            ))),
        },
        Some(_) => Err(SopsError::BadMetadata(format!(
            "`{key}` must be true or false"
        ))),
    }
}

/// `shamir_threshold`: a number (YAML plain, JSON number, dotenv text), as sops decodes it
/// into a Go `int`.
fn threshold(map: &MapNode) -> Result<Option<usize>, SopsError> {
    match map.get("shamir_threshold").map(|e| &e.value) {
        None => Ok(None),
        Some(Node::Scalar(s)) if s.style == Style::JsonNull => Ok(None),
        Some(Node::Scalar(s))
            if matches!(s.style, Style::Plain | Style::JsonNumber | Style::Dotenv) =>
        {
            s.text.parse::<usize>().map(Some).map_err(|_| {
                SopsError::BadMetadata("`shamir_threshold` is not a whole number".into())
            })
        }
        Some(_) => Err(SopsError::BadMetadata(
            "`shamir_threshold` must be a number".into(),
        )),
    }
}

fn scalar(map: &MapNode, key: &str) -> Result<Option<String>, SopsError> {
    match map.get(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Node::Scalar(s)) if s.style == Style::JsonNull => Ok(None),
        // Go's JSON decoder refuses a number or boolean where the metadata has a string.
        Some(Node::Scalar(s)) if matches!(s.style, Style::JsonNumber | Style::JsonBool) => {
            Err(SopsError::BadMetadata(format!("`{key}` must be a string")))
        }
        Some(Node::Scalar(s)) => Ok(Some(s.text.clone())),
        Some(_) => Err(SopsError::BadMetadata(format!(
            "`{key}` must be a single value"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::version_sops_accepts;

    #[test]
    fn versions_are_accepted_as_sops_compares_them() {
        for ok in [
            "3.11.0",
            "v3.7.3",
            "3.11.0-beta",
            "3.9.0-rc.1+build.5",
            "1.15",
            "1.x",
        ] {
            assert!(version_sops_accepts(ok), "{ok}");
        }
        for bad in [
            "3", "3.11", "03.1.0", "3.1.0-", "3.1.0-01", "3.1.0+", "x.y.z", "4.0.0.0",
        ] {
            assert!(!version_sops_accepts(bad), "{bad}");
        }
    }
}
