//! An encrypted SOPS file: parsed, opened with an age identity, checked, and rendered.
//!
//! [`SopsFile::parse`] reads structure and metadata without any key. [`SopsFile::open`]
//! recovers the data key, decrypts every value and verifies the MAC, refusing a tampered
//! file before anything else can happen. Edits live in `edit.rs`.

use std::ops::Range;

use super::cipher::{self, EncValue};
use super::error::{Location, SopsError};
use super::format::{Format, line_col};
use super::keys::Identities;
use super::mac::{self, MacInput};
use super::metadata::{Metadata, StampSpans};
use super::rules::Rule;
use super::secret::{DataKey, PlainValue, SecretText, ValueType};
use super::tree::{Document, MapNode, Node, ScalarNode, Style};
use super::value::{self, Typed};

/// A parsed encrypted file. Holds ciphertext only.
#[derive(Debug)]
pub struct SopsFile {
    pub(crate) text: String,
    pub(crate) format: Format,
    pub(crate) docs: Vec<Document>,
    pub(crate) meta: Metadata,
    pub(crate) stamps: StampSpans,
}

/// One scalar of the document as read: where it is, its plaintext, and how it was stored.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub span: Range<usize>,
    /// The `- ` indicator of a YAML list item (sops's comment items are rewritten from it).
    pub item_start: usize,
    pub value: Option<PlainValue>,
    pub encrypted: bool,
    pub comment: bool,
    pub in_flow: bool,
}

/// A decrypted comment line (YAML `#ENC[...]`).
#[derive(Debug)]
pub(crate) struct PlainComment {
    pub span: Range<usize>,
    pub text: PlainValue,
}

/// A file whose data key is recovered and whose MAC checked out.
#[derive(Debug)]
pub struct OpenedFile<'f> {
    pub(crate) file: &'f SopsFile,
    pub(crate) key: DataKey,
    pub(crate) leaves: Vec<Leaf>,
    pub(crate) comments: Vec<PlainComment>,
}

impl SopsFile {
    /// Parses an encrypted file's text in the given store format.
    pub fn parse(text: String, format: Format) -> Result<Self, SopsError> {
        let docs = format
            .parse(&text)
            .map_err(|e| SopsError::syntax(format, e))?;
        let (meta, stamps) = Metadata::from_documents(&docs)?;
        Ok(Self {
            text,
            format,
            docs,
            meta,
            stamps,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// Recovers the data key, decrypts every value and comment, and verifies the MAC.
    pub fn open(&self, ids: &Identities) -> Result<OpenedFile<'_>, SopsError> {
        let key = ids.data_key(&self.meta)?;
        self.open_with_key(key)
    }

    /// Opens this file with the data key of `other` (the same file before an edit), which
    /// saves decrypting the key again.
    pub(crate) fn open_with_same_key(
        &self,
        other: &OpenedFile<'_>,
    ) -> Result<OpenedFile<'_>, SopsError> {
        self.open_with_key(other.key.clone())
    }

    pub(crate) fn open_with_key(&self, key: DataKey) -> Result<OpenedFile<'_>, SopsError> {
        let leaves = self.read_leaves(&key)?;
        let comments = self.read_comments(&key)?;
        let opened = OpenedFile {
            file: self,
            key,
            leaves,
            comments,
        };
        opened.verify_mac()?;
        Ok(opened)
    }

    pub(crate) fn location(&self, offset: usize, path: &[&str]) -> Location {
        Location {
            path: path.join("."),
            line: line_col(&self.text, offset).0,
        }
    }

    fn read_leaves(&self, key: &DataKey) -> Result<Vec<Leaf>, SopsError> {
        let ints_as_floats = self.meta.version_below((3, 13, 2));
        let mut leaves = Vec::new();
        for doc in &self.docs {
            let mut path = Vec::new();
            walk_map(&doc.root, &mut path, &mut |s, path, item_start| {
                leaves.push(self.read_scalar(s, path, item_start, key, ints_as_floats)?);
                Ok(())
            })?;
        }
        Ok(leaves)
    }

    fn read_scalar(
        &self,
        s: &ScalarNode,
        path: &[&str],
        item_start: usize,
        key: &DataKey,
        ints_as_floats: bool,
    ) -> Result<Leaf, SopsError> {
        let rule_says = self.meta.rule.encrypts_path(path);
        let mut leaf = Leaf {
            span: s.span.clone(),
            item_start,
            value: None,
            encrypted: false,
            comment: false,
            in_flow: s.in_flow,
        };
        if cipher::is_encrypted(&s.text) && rule_says != Some(false) {
            let fail = |reason: String| SopsError::ValueDecrypt {
                at: self.location(s.span.start, path),
                reason,
            };
            let enc = EncValue::parse(&s.text).map_err(|e| fail(e.to_string()))?;
            let plain = enc
                .decrypt(key, additional_data(path).as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            let plain = value::decode_typed(plain).map_err(|e| fail(e.to_owned()))?;
            leaf.comment = plain.ty() == ValueType::Comment;
            leaf.encrypted = true;
            leaf.value = Some(plain);
            return Ok(leaf);
        }
        leaf.value = clear_value(s, ints_as_floats).map_err(|what| SopsError::Unsupported {
            at: self.location(s.span.start, path),
            what: what.to_owned(),
        })?;
        let must_be_encrypted =
            rule_says == Some(true) && leaf.value.as_ref().is_some_and(|v| !v.is_empty());
        if must_be_encrypted {
            return Err(SopsError::ValueDecrypt {
                at: self.location(s.span.start, path),
                reason: "the value is in clear text but the file's rule says it is encrypted"
                    .into(),
            });
        }
        Ok(leaf)
    }

    fn read_comments(&self, key: &DataKey) -> Result<Vec<PlainComment>, SopsError> {
        let mut out = Vec::new();
        for doc in &self.docs {
            let in_metadata = |pos: usize| {
                doc.sops
                    .as_ref()
                    .is_some_and(|s| s.removal.iter().any(|r| r.contains(&pos)))
            };
            let outline = Outline::new(&doc.root);
            for c in &doc.comments {
                if in_metadata(c.span.start) || !cipher::is_encrypted(&c.text) {
                    continue;
                }
                let at = self.location(c.span.start, &[]);
                let enc = EncValue::parse(&c.text).map_err(|e| SopsError::ValueDecrypt {
                    at: at.clone(),
                    reason: format!("comment: {e}"),
                })?;
                // sops binds a comment to the path of the map or list around it. Which one
                // that is depends on how its YAML library attached the comment, so every
                // enclosing path is tried; a moved or altered comment still fails all.
                // sops writes comments as `type:comment`; with any other type it would count
                // the decrypted text in the MAC, which keyroll never does for a comment.
                if enc.ty() != ValueType::Comment {
                    return Err(SopsError::ValueDecrypt {
                        at,
                        reason: format!(
                            "comment: encrypted as type `{}`, not `comment`",
                            enc.ty().as_str()
                        ),
                    });
                }
                let text = outline
                    .comment_paths(c.span.start)
                    .iter()
                    .find_map(|ad| enc.decrypt(key, ad.as_bytes()).ok())
                    .ok_or_else(|| SopsError::ValueDecrypt {
                        at,
                        reason: "comment: authentication failed".into(),
                    })?;
                out.push(PlainComment {
                    span: c.span.clone(),
                    text,
                });
            }
        }
        Ok(out)
    }
}

impl OpenedFile<'_> {
    /// The MAC over the current values.
    fn computed_mac(&self) -> String {
        mac::compute(
            self.leaves.iter().map(|l| MacInput {
                value: l.value.as_ref(),
                encrypted: l.encrypted,
                comment: l.comment,
            }),
            self.file.meta.mac_only_encrypted,
        )
    }

    fn verify_mac(&self) -> Result<(), SopsError> {
        let meta = &self.file.meta;
        let enc = EncValue::parse(&meta.mac).map_err(|_| SopsError::MacUndecryptable)?;
        let aad = mac::stamp_aad(&meta.lastmodified).ok_or(SopsError::MacUndecryptable)?;
        let stored = enc
            .decrypt(&self.key, aad.as_bytes())
            .map_err(|_| SopsError::MacUndecryptable)?;
        // sops compares the decrypted string with its upper-case hex exactly; a MAC of
        // another type never equals it.
        let computed = self.computed_mac();
        if stored.ty() == ValueType::Str && stored.expose() == computed.as_bytes() {
            Ok(())
        } else {
            Err(SopsError::MacMismatch)
        }
    }

    /// The number of values in the file (nulls and comments excluded).
    pub fn value_count(&self) -> usize {
        self.leaves
            .iter()
            .filter(|l| l.value.is_some() && !l.comment)
            .count()
    }

    /// The plaintext document in the file's own format and layout, without the metadata.
    pub fn plaintext(&self) -> SecretText {
        enum Op<'a> {
            Leaf(&'a Leaf),
            Comment(&'a PlainComment),
            Remove,
        }
        let file = self.file;
        let mut ops: Vec<(Range<usize>, Op<'_>)> = Vec::new();
        for leaf in self.leaves.iter().filter(|l| l.encrypted) {
            let range = if leaf.comment {
                leaf.item_start..leaf.span.end
            } else {
                leaf.span.clone()
            };
            ops.push((range, Op::Leaf(leaf)));
        }
        for c in &self.comments {
            ops.push((c.span.clone(), Op::Comment(c)));
        }
        for doc in &file.docs {
            if let Some(s) = &doc.sops {
                ops.extend(s.removal.iter().map(|r| (r.clone(), Op::Remove)));
            }
        }
        ops.sort_by_key(|(r, _)| r.start);
        // Sized once: ciphertext is longer than the plaintext it renders to (base64 plus
        // ~90 bytes of ENC[...] per value), so the buffer does not grow and leave copies.
        let mut out = SecretText::new(String::with_capacity(file.text.len() + file.text.len() / 2));
        let mut pos = 0;
        for (range, op) in ops {
            if range.start < pos {
                continue;
            }
            out.push_str(file.text.get(pos..range.start).unwrap_or(""));
            let mut piece = zeroize::Zeroizing::new(String::new());
            match op {
                Op::Leaf(leaf) => match &leaf.value {
                    Some(v) if leaf.comment => {
                        piece.push('#');
                        piece.push_str(&String::from_utf8_lossy(v.expose()));
                    }
                    Some(v) => render_plain(file.format, v, leaf.in_flow, &mut piece),
                    None => piece.push_str("null"),
                },
                Op::Comment(c) => {
                    piece.push('#');
                    piece.push_str(&String::from_utf8_lossy(c.text.expose()));
                }
                Op::Remove => {}
            }
            out.push_str(&piece);
            pos = range.end;
        }
        out.push_str(file.text.get(pos..).unwrap_or(""));
        if file.format == Format::Json && !out.expose().ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// The plaintext of the scalar at `path`; `None` when `path` is a map or list.
    pub fn get(&self, path: &super::path::TreePath) -> Result<Option<&PlainValue>, SopsError> {
        match super::edit::locate(self.file, path)? {
            super::edit::Target::Scalar(span) => Ok(self.value_at_span(&span)),
            _ => Ok(None),
        }
    }

    /// The values at `path`: the one value of a scalar, or each value of a list of scalars
    /// (nulls left out). `None` when `path` is a map.
    pub fn values(
        &self,
        path: &super::path::TreePath,
    ) -> Result<Option<Vec<&PlainValue>>, SopsError> {
        Ok(match super::edit::locate(self.file, path)? {
            super::edit::Target::Scalar(span) => {
                Some(self.value_at_span(&span).into_iter().collect())
            }
            super::edit::Target::List(spans) => {
                Some(spans.iter().filter_map(|s| self.value_at_span(s)).collect())
            }
            super::edit::Target::Container => None,
        })
    }

    fn value_at_span(&self, span: &Range<usize>) -> Option<&PlainValue> {
        let i = self.leaves.partition_point(|l| l.span.start < span.start);
        self.leaves
            .get(i)
            .filter(|l| l.span == *span)
            .and_then(|l| l.value.as_ref())
    }

    /// Every value with its key path (`data_api.auth_tokens`; list items share their list's
    /// path), in file order. Nulls and comments are left out.
    pub fn values_with_paths(&self) -> Vec<(String, &PlainValue)> {
        let mut out = Vec::new();
        for doc in &self.file.docs {
            let mut path = Vec::new();
            let _ = walk_map(&doc.root, &mut path, &mut |s, keys, _| {
                if let Some(v) = self.value_at_span(&s.span)
                    && v.ty() != ValueType::Comment
                {
                    out.push((keys.join("."), v));
                }
                Ok(())
            });
        }
        out
    }

    /// The encrypted text this file was opened from.
    pub fn file_text(&self) -> &str {
        &self.file.text
    }

    pub fn format(&self) -> Format {
        self.file.format
    }

    /// The age recipients of the file, for plans and messages.
    pub fn recipients(&self) -> Vec<String> {
        self.file
            .meta
            .age_recipients()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

/// Renders a plaintext value for the plaintext view of a file.
pub(crate) fn render_plain(format: Format, v: &PlainValue, in_flow: bool, out: &mut String) {
    match format {
        Format::Yaml => value::render_yaml(v, out, in_flow),
        Format::Json => value::render_json(v, out),
        Format::Dotenv => value::render_dotenv(v, out),
    }
}

/// The additional data binding a value to its place: the map keys joined by `:`, plus `:`.
pub(crate) fn additional_data(path: &[&str]) -> String {
    let mut ad = String::with_capacity(path.iter().map(|k| k.len() + 1).sum::<usize>() + 1);
    for k in path {
        ad.push_str(k);
        ad.push(':');
    }
    if path.is_empty() {
        ad.push(':');
    }
    ad
}

/// Types a clear scalar; `Ok(None)` for nulls.
pub(crate) fn clear_value(
    s: &ScalarNode,
    ints_as_floats: bool,
) -> Result<Option<PlainValue>, &'static str> {
    let typed = match s.style {
        Style::Plain => value::type_yaml_plain(&s.text),
        Style::JsonNumber => value::type_json_number(&s.text, ints_as_floats),
        Style::JsonBool => Typed::Value(value::bool_plain(s.text == "true")),
        Style::JsonNull => Typed::Null,
        Style::Quoted | Style::Block | Style::JsonString | Style::Dotenv => {
            Typed::Value(PlainValue::str(&s.text))
        }
    };
    match typed {
        Typed::Null => Ok(None),
        Typed::Value(v) => Ok(Some(v)),
        Typed::Unsupported(what) => Err(what),
    }
}

/// Visits every scalar under a map with its key path (list indexes are not part of it) and
/// the start of its list item.
pub(crate) fn walk_map<'t>(
    map: &'t MapNode,
    path: &mut Vec<&'t str>,
    f: &mut impl FnMut(&'t ScalarNode, &[&'t str], usize) -> Result<(), SopsError>,
) -> Result<(), SopsError> {
    for e in &map.entries {
        path.push(&e.key);
        walk_node(&e.value, path, e.key_span.start, f)?;
        path.pop();
    }
    Ok(())
}

fn walk_node<'t>(
    node: &'t Node,
    path: &mut Vec<&'t str>,
    item_start: usize,
    f: &mut impl FnMut(&'t ScalarNode, &[&'t str], usize) -> Result<(), SopsError>,
) -> Result<(), SopsError> {
    match node {
        Node::Scalar(s) => f(s, path, item_start),
        Node::Map(m) => walk_map(m, path, f),
        Node::List(l) => {
            for item in &l.items {
                walk_node(&item.node, path, item.start, f)?;
            }
            Ok(())
        }
    }
}

/// Where each entry and list item of a document starts, with the path of the container
/// holding it: what the additional data of a comment is looked up in. Built once per
/// document, so that a file with many comments is not read in quadratic time.
pub(crate) struct Outline<'t> {
    /// (start offset, path id), sorted by offset; equal offsets keep visiting order.
    starts: Vec<(usize, usize)>,
    /// Path id -> (parent path id, key); id 0 is the document root (no key).
    paths: Vec<(usize, &'t str)>,
}

impl<'t> Outline<'t> {
    pub(crate) fn new(root: &'t MapNode) -> Self {
        let mut o = Outline {
            starts: Vec::new(),
            paths: vec![(0, "")],
        };
        o.map(root, 0);
        o.starts.sort_by_key(|(start, _)| *start);
        o
    }

    // Recursion is bounded by the parsers' depth limit.
    fn map(&mut self, map: &'t MapNode, path: usize) {
        for e in &map.entries {
            self.starts.push((e.key_span.start, path));
            self.paths.push((path, &e.key));
            let inner = self.paths.len() - 1;
            self.node(&e.value, inner);
        }
    }

    fn node(&mut self, node: &'t Node, path: usize) {
        match node {
            Node::Scalar(_) => {}
            Node::Map(m) => self.map(m, path),
            Node::List(l) => {
                for item in &l.items {
                    self.starts.push((item.start, path));
                    self.node(&item.node, path);
                }
            }
        }
    }

    /// The keys of a path id, root first.
    fn keys(&self, mut id: usize) -> Vec<&'t str> {
        let mut keys = Vec::new();
        while id != 0 {
            let Some(&(parent, key)) = self.paths.get(id) else {
                break;
            };
            keys.push(key);
            id = parent;
        }
        keys.reverse();
        keys
    }

    /// The additional data a comment at `pos` may carry: the paths of the containers of the
    /// nearest entries after and before it, each with all its parents.
    pub(crate) fn comment_paths(&self, pos: usize) -> Vec<String> {
        let before = self
            .starts
            .partition_point(|(s, _)| *s < pos)
            .checked_sub(1)
            .and_then(|i| self.starts.get(i));
        let after = self
            .starts
            .get(self.starts.partition_point(|(s, _)| *s <= pos));
        let mut out: Vec<String> = Vec::new();
        for (_, id) in [after, before].into_iter().flatten() {
            let p = self.keys(*id);
            for len in (0..=p.len()).rev() {
                let ad = additional_data(p.get(..len).unwrap_or(&[]));
                if !out.contains(&ad) {
                    out.push(ad);
                }
            }
        }
        if out.is_empty() {
            out.push(additional_data(&[]));
        }
        out
    }

    /// The path of the container of the first entry after `pos`: the additional data sops
    /// gives a comment written there.
    pub(crate) fn comment_path_for_writing(&self, pos: usize) -> String {
        self.comment_paths(pos)
            .into_iter()
            .next()
            .unwrap_or_else(|| ":".to_owned())
    }
}

/// Which values the rule encrypts, for a path; comment-based rules keep what the file has.
pub(crate) fn rule_encrypts(rule: &Rule, path: &[&str], currently: bool) -> bool {
    rule.encrypts_path(path).unwrap_or(currently)
}
