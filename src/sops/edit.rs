//! Changing an encrypted file by splicing its text.
//!
//! An edit replaces, inserts or removes the bytes of one value (or entry), then rewrites the
//! `lastmodified` and `mac` values of every document. All other bytes stay as they were, so
//! a one-value change is a three-line diff, as with `sops set`.

use std::ops::Range;

use time::OffsetDateTime;

use super::cipher::EncValue;
use super::emit::Emitter;
use super::error::SopsError;
use super::file::{OpenedFile, SopsFile, rule_encrypts};
use super::format::{Format, line_end, line_start, only_indent_before};
use super::mac::{self, MacInput};
use super::new_value::NewValue;
use super::path::{Segment, TreePath};
use super::secret::PlainValue;
use super::tree::{Entry, Item, ListNode, MapNode, Node, Style};

/// What a path points at in the first document.
pub(crate) enum Target {
    Scalar(Range<usize>),
    /// A list: the spans of its scalar items (items that are maps or lists are left out).
    List(Vec<Range<usize>>),
    /// A map.
    Container,
}

/// Finds the node at `path` in the first document (sops's `set`/`unset` act there).
pub(crate) fn locate(file: &SopsFile, path: &TreePath) -> Result<Target, SopsError> {
    let nav = navigate(file, path)?;
    match nav.found {
        Found::Entry(_, e) => Ok(as_target(&e.value)),
        Found::Item(_, i) => Ok(as_target(&i.node)),
        Found::MissingKey { .. } | Found::PastEnd { .. } => {
            Err(SopsError::PathNotFound(path.to_string()))
        }
    }
}

fn as_target(node: &Node) -> Target {
    match node {
        Node::Scalar(s) => Target::Scalar(s.span.clone()),
        Node::List(l) => Target::List(
            l.items
                .iter()
                .filter_map(|i| match &i.node {
                    Node::Scalar(s) => Some(s.span.clone()),
                    _ => None,
                })
                .collect(),
        ),
        Node::Map(_) => Target::Container,
    }
}

/// Where a path leads: an existing entry or item, or the place a new one would go.
enum Found<'t> {
    Entry(&'t MapNode, &'t Entry),
    Item(&'t ListNode, &'t Item),
    /// The key `segments[at]` is missing from this map.
    MissingKey {
        map: &'t MapNode,
        at: usize,
    },
    /// The index `segments[at]` is at or past the end of this list.
    PastEnd {
        list: &'t ListNode,
        at: usize,
    },
}

struct Navigation<'t> {
    found: Found<'t>,
    /// The map keys leading to the found place (the AD path of a value there).
    keys: Vec<&'t str>,
    /// What holds the found container: the entry or item, for emptying it.
    holder: Option<Holder<'t>>,
}

#[derive(Clone, Copy)]
enum Holder<'t> {
    Entry(&'t Entry),
    Item,
}

fn navigate<'t>(file: &'t SopsFile, path: &TreePath) -> Result<Navigation<'t>, SopsError> {
    let doc = file.docs.first().ok_or(SopsError::NotEncrypted)?;
    let mut keys: Vec<&'t str> = Vec::new();
    let mut holder: Option<Holder<'t>> = None;
    let mut node: Option<&'t Node> = None;
    let last = path.0.len().saturating_sub(1);
    for (i, seg) in path.0.iter().enumerate() {
        let here = TreePath(path.0.get(..i).unwrap_or(&[]).to_vec());
        let not_container = || {
            SopsError::InvalidPath(format!(
                "{path}: {here} is a single value, not a mapping or list"
            ))
        };
        match (node, seg) {
            (None | Some(Node::Map(_)), Segment::Key(k)) => {
                let map = match node {
                    None => &doc.root,
                    Some(Node::Map(m)) => m,
                    Some(_) => return Err(not_container()),
                };
                let Some(entry) = map.entries.iter().find(|e| &e.key == k) else {
                    return Ok(Navigation {
                        found: Found::MissingKey { map, at: i },
                        keys,
                        holder,
                    });
                };
                keys.push(&entry.key);
                if i == last {
                    return Ok(Navigation {
                        found: Found::Entry(map, entry),
                        keys,
                        holder,
                    });
                }
                holder = Some(Holder::Entry(entry));
                node = Some(&entry.value);
            }
            (Some(Node::List(list)), Segment::Index(n)) => {
                let Some(item) = list.items.get(*n) else {
                    return Ok(Navigation {
                        found: Found::PastEnd { list, at: i },
                        keys,
                        holder,
                    });
                };
                if i == last {
                    return Ok(Navigation {
                        found: Found::Item(list, item),
                        keys,
                        holder,
                    });
                }
                holder = Some(Holder::Item);
                node = Some(&item.node);
            }
            (Some(Node::Scalar(_)), _) => return Err(not_container()),
            (None | Some(Node::Map(_)), Segment::Index(_)) => {
                return Err(SopsError::InvalidPath(format!(
                    "{path}: {here} is a mapping; use a [\"key\"] step"
                )));
            }
            (Some(Node::List(_)), Segment::Key(_)) => {
                return Err(SopsError::InvalidPath(format!(
                    "{path}: {here} is a list; use an [index] step"
                )));
            }
        }
    }
    Err(SopsError::InvalidPath("the path is empty".into()))
}

/// Refuses a path whose first key would write something other than a value: the `sops`
/// metadata key (a second metadata section), or in dotenv a metadata line (`sops_…`), a
/// comment (`#…`) or a line split at an `=` or a newline in the key. sops could not read the
/// result as the value set.
fn refuse_reserved_key(format: Format, path: &TreePath) -> Result<(), SopsError> {
    let Some(Segment::Key(first)) = path.0.first() else {
        return Ok(());
    };
    let reserved = match format {
        Format::Yaml | Format::Json => first == "sops",
        Format::Dotenv => {
            first.is_empty()
                || first.starts_with("sops_")
                || first.starts_with('#')
                || first.contains(['=', '\n'])
        }
    };
    if reserved {
        return Err(SopsError::InvalidPath(format!(
            "{path}: `{first}` cannot be a key here (it is the sops metadata's, or not a valid \
             {} key)",
            format.name()
        )));
    }
    Ok(())
}

/// Builds the value to insert for the rest of a path that does not exist yet.
fn nest(rest: &[Segment], value: &NewValue) -> NewValue {
    match rest.split_first() {
        None => value.clone(),
        Some((Segment::Key(k), tail)) => NewValue::Map(vec![(k.clone(), nest(tail, value))]),
        Some((Segment::Index(_), tail)) => NewValue::List(vec![nest(tail, value)]),
    }
}

/// One planned change: the text splice and what it does to the list of values.
struct Plan {
    splice: (Range<usize>, String),
    /// Values whose spans fall in this range are gone.
    removed: Option<Range<usize>>,
    /// A value replaced in place: (span, new value, encrypted).
    replaced: Option<(Range<usize>, Option<PlainValue>, bool)>,
    /// New values, in order, placed at the splice position.
    inserted: Vec<(Option<PlainValue>, bool)>,
}

impl OpenedFile<'_> {
    /// Sets the value at `path` (creating missing maps, appending past the end of a list).
    /// Returns the new file text, or `None` when the value is already there.
    pub fn set(
        &self,
        path: &TreePath,
        value: &NewValue,
        now: OffsetDateTime,
    ) -> Result<Option<String>, SopsError> {
        let file = self.file;
        if file.format == Format::Dotenv
            && (path.0.len() != 1 || !matches!(value, NewValue::Scalar(_)))
        {
            return Err(SopsError::InvalidPath(format!(
                "{path}: a dotenv file holds only top-level string values"
            )));
        }
        refuse_reserved_key(file.format, path)?;
        let nav = navigate(file, path)?;
        let mut emitter = Emitter::new(file, &self.key);
        // `None`: the value is already there, so nothing is written.
        let plan = match nav.found {
            Found::Entry(map, entry) => self.replace_value(
                &mut emitter,
                &nav.keys,
                &entry.value,
                value,
                Some((map, entry)),
            )?,
            Found::Item(_, item) => {
                self.replace_value(&mut emitter, &nav.keys, &item.node, value, None)?
            }
            Found::MissingKey { map, at } => {
                let Some(Segment::Key(k)) = path.0.get(at) else {
                    return Err(SopsError::InvalidPath(path.to_string()));
                };
                let new = nest(path.0.get(at + 1..).unwrap_or(&[]), value);
                let splice = emitter.insert_entry(map, &nav.keys, k, &new)?;
                Some(Plan {
                    splice,
                    removed: None,
                    replaced: None,
                    inserted: emitter.take_leaves(),
                })
            }
            Found::PastEnd { list, at } => {
                let new = nest(path.0.get(at + 1..).unwrap_or(&[]), value);
                let splice = emitter.insert_item(list, &nav.keys, &new)?;
                Some(Plan {
                    splice,
                    removed: None,
                    replaced: None,
                    inserted: emitter.take_leaves(),
                })
            }
        };
        plan.map(|plan| self.apply(plan, now)).transpose()
    }

    /// Removes the entry or list item at `path`; a missing path is an error.
    pub fn unset(&self, path: &TreePath, now: OffsetDateTime) -> Result<String, SopsError> {
        let file = self.file;
        let nav = navigate(file, path)?;
        let text = &file.text;
        let (range, replacement) = match nav.found {
            Found::Entry(map, entry) => {
                let idx = map
                    .entries
                    .iter()
                    .position(|e| std::ptr::eq(e, entry))
                    .unwrap_or(0);
                let mut starts: Vec<usize> = map.entries.iter().map(|e| e.key_span.start).collect();
                let mut ends: Vec<usize> =
                    map.entries.iter().map(|e| e.value.content_end()).collect();
                // In JSON the `sops` member is a sibling of the top-level entries (the last
                // one): count it, so removing the only data entry keeps it and its comma
                // goes with the removed entry.
                if file.format == Format::Json
                    && file
                        .docs
                        .first()
                        .is_some_and(|d| std::ptr::eq(&d.root, map) && d.sops.is_some())
                    && let Some(next) = ends.last().and_then(|e| json_member_after(text, *e))
                {
                    starts.push(next);
                    ends.push(next);
                }
                removal(
                    file.format,
                    text,
                    map.flow,
                    &starts,
                    &ends,
                    idx,
                    nav.holder,
                    map.span.clone(),
                    "{}",
                )
            }
            Found::Item(list, item) => {
                let idx = list
                    .items
                    .iter()
                    .position(|i| std::ptr::eq(i, item))
                    .unwrap_or(0);
                let starts: Vec<usize> = list.items.iter().map(|i| i.start).collect();
                let ends: Vec<usize> = list.items.iter().map(|i| i.node.content_end()).collect();
                removal(
                    file.format,
                    text,
                    list.flow,
                    &starts,
                    &ends,
                    idx,
                    nav.holder,
                    list.span.clone(),
                    "[]",
                )
            }
            Found::MissingKey { .. } | Found::PastEnd { .. } => {
                return Err(SopsError::PathNotFound(path.to_string()));
            }
        };
        let removed = Some(range.clone());
        self.apply(
            Plan {
                splice: (range, replacement),
                removed,
                replaced: None,
                inserted: Vec::new(),
            },
            now,
        )
    }

    fn replace_value(
        &self,
        emitter: &mut Emitter<'_>,
        keys: &[&str],
        old: &Node,
        new: &NewValue,
        entry: Option<(&MapNode, &Entry)>,
    ) -> Result<Option<Plan>, SopsError> {
        let file = self.file;
        match (old, new) {
            (Node::Scalar(s), NewValue::Scalar(_) | NewValue::Null) => {
                let leaf = self.leaves.iter().find(|l| l.span == s.span);
                let was_encrypted = leaf.is_some_and(|l| l.encrypted);
                let new_plain = match new {
                    NewValue::Scalar(v) => Some(v),
                    _ => None,
                };
                let encrypt = rule_encrypts(&file.meta.rule, keys, was_encrypted);
                let unchanged = leaf.is_some_and(|l| {
                    l.value.as_ref() == new_plain
                        && (l.encrypted == (encrypt && new_plain.is_some_and(|v| !v.is_empty())))
                });
                if unchanged {
                    return Ok(None);
                }
                let text = emitter.scalar(new_plain, keys, s.in_flow)?;
                let (value, encrypted) = emitter
                    .take_leaves()
                    .into_iter()
                    .next()
                    .unwrap_or((None, false));
                Ok(Some(Plan {
                    splice: (s.span.clone(), text),
                    removed: None,
                    replaced: Some((s.span.clone(), value, encrypted)),
                    inserted: Vec::new(),
                }))
            }
            _ => {
                // The shape changes (a value becomes a map, a list becomes a value…): write
                // the new value in place of the old one's text.
                let range = match (file.format, entry) {
                    (Format::Yaml, Some((map, e))) if !map.flow => {
                        let colon = file
                            .text
                            .get(e.key_span.end..)
                            .and_then(|t| t.find(':'))
                            .map_or(e.key_span.end, |i| e.key_span.end + i + 1);
                        colon..e.value.content_end()
                    }
                    _ => old.start()..old.content_end(),
                };
                let text = match (file.format, entry) {
                    (Format::Yaml, Some((map, _))) if !map.flow => {
                        emitter.yaml_entry_value(new, keys, map.indent)?
                    }
                    (Format::Yaml, _) => emitter.yaml_flow(new, keys)?,
                    _ => {
                        let prefix = indent_of(&file.text, old.start());
                        emitter.json(new, keys, &prefix)?
                    }
                };
                Ok(Some(Plan {
                    splice: (range.clone(), text),
                    removed: Some(range),
                    replaced: None,
                    inserted: emitter.take_leaves(),
                }))
            }
        }
    }

    /// Applies a plan, then restamps `lastmodified` and the MAC in every document.
    fn apply(&self, plan: Plan, now: OffsetDateTime) -> Result<String, SopsError> {
        let file = self.file;
        let at = plan.splice.0.start;
        let mut inputs: Vec<MacInput<'_>> =
            Vec::with_capacity(self.leaves.len() + plan.inserted.len());
        let mut inserted_done = false;
        let inserted: Vec<MacInput<'_>> = plan
            .inserted
            .iter()
            .map(|(v, enc)| MacInput {
                value: v.as_ref(),
                encrypted: *enc,
                comment: false,
            })
            .collect();
        for leaf in &self.leaves {
            if !inserted_done && leaf.span.start >= at {
                inputs.extend(inserted.iter().copied());
                inserted_done = true;
            }
            if plan
                .removed
                .as_ref()
                .is_some_and(|r| r.start <= leaf.span.start && leaf.span.end <= r.end)
            {
                continue;
            }
            match &plan.replaced {
                Some((span, v, enc)) if *span == leaf.span => inputs.push(MacInput {
                    value: v.as_ref(),
                    encrypted: *enc,
                    comment: false,
                }),
                _ => inputs.push(MacInput {
                    value: leaf.value.as_ref(),
                    encrypted: leaf.encrypted,
                    comment: leaf.comment,
                }),
            }
        }
        if !inserted_done {
            inputs.extend(inserted.iter().copied());
        }
        let meta = &file.meta;
        let mac_hex = mac::compute(inputs, meta.mac_only_encrypted);
        let stamp = mac::format_stamp(now.to_offset(time::UtcOffset::UTC));
        let mac_enc = EncValue::encrypt(&PlainValue::str(&mac_hex), &self.key, stamp.as_bytes())
            .map_err(|e| SopsError::Encrypt(e.to_string()))?
            .render();

        let mut splices = vec![plan.splice];
        for (span, style) in &file.stamps.lastmodified {
            splices.push((span.clone(), quote_like(&file.text, span, *style, &stamp)));
        }
        for (span, style) in &file.stamps.mac {
            splices.push((span.clone(), quote_like(&file.text, span, *style, &mac_enc)));
        }
        Ok(apply_splices(&file.text, splices))
    }
}

/// Writes `value` in the same quoting as the scalar it replaces.
fn quote_like(text: &str, span: &Range<usize>, style: Style, value: &str) -> String {
    match style {
        Style::JsonString => {
            let mut out = String::new();
            super::value::json_string(value, &mut out);
            out
        }
        Style::Quoted if text.as_bytes().get(span.start) == Some(&b'\'') => format!("'{value}'"),
        Style::Quoted => format!("\"{value}\""),
        _ => value.to_owned(),
    }
}

/// Applies non-overlapping splices to `text`.
pub(crate) fn apply_splices(text: &str, mut splices: Vec<(Range<usize>, String)>) -> String {
    splices.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut pos = 0;
    for (range, replacement) in splices {
        if range.start < pos {
            continue;
        }
        out.push_str(text.get(pos..range.start).unwrap_or(""));
        out.push_str(&replacement);
        pos = range.end;
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    out
}

/// Where the next member of a JSON object starts, after the value ending at `end`.
fn json_member_after(text: &str, end: usize) -> Option<usize> {
    let rest = text.get(end..)?;
    let after_ws = rest.trim_start();
    let after_comma = after_ws.strip_prefix(',')?.trim_start();
    after_comma
        .starts_with('"')
        .then(|| text.len() - after_comma.len())
}

/// The leading whitespace of the line holding `offset`.
pub(crate) fn indent_of(text: &str, offset: usize) -> String {
    let start = line_start(text, offset);
    text.get(start..)
        .unwrap_or("")
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The text range (and replacement) that removes element `idx` of a map or list whose
/// element starts and content ends are given.
#[allow(clippy::too_many_arguments)]
fn removal(
    format: Format,
    text: &str,
    flow: bool,
    starts: &[usize],
    ends: &[usize],
    idx: usize,
    holder: Option<Holder<'_>>,
    container: Range<usize>,
    empty: &str,
) -> (Range<usize>, String) {
    let n = starts.len();
    let start = starts.get(idx).copied().unwrap_or(0);
    let end = ends.get(idx).copied().unwrap_or(start);
    if format == Format::Dotenv {
        return (
            line_start(text, start)..(line_end(text, end) + 1).min(text.len()),
            String::new(),
        );
    }
    if flow || format == Format::Json {
        // Remove the element with the comma on one side of it.
        return match (idx, n) {
            (_, 1) => (container.start..container.end, empty.to_owned()),
            (0, _) => (start..starts.get(1).copied().unwrap_or(end), String::new()),
            _ => (
                ends.get(idx - 1).copied().unwrap_or(start)..end,
                String::new(),
            ),
        };
    }
    if n == 1 {
        // The container becomes empty: write `{}`/`[]` where its content was.
        return match holder {
            Some(Holder::Entry(e)) => {
                let colon = text
                    .get(e.key_span.end..)
                    .and_then(|t| t.find(':'))
                    .map_or(e.key_span.end, |i| e.key_span.end + i + 1);
                (colon..line_end(text, end), format!(" {empty}"))
            }
            Some(Holder::Item) => (start..line_end(text, end), empty.to_owned()),
            None => (
                line_start(text, start)..(line_end(text, end) + 1).min(text.len()),
                String::new(),
            ),
        };
    }
    let cut_start = |at: usize| {
        if only_indent_before(text, at) {
            line_start(text, at)
        } else {
            at
        }
    };
    if idx + 1 < n {
        let next = starts.get(idx + 1).copied().unwrap_or(end);
        let from = cut_start(start);
        let to = if from == start { next } else { cut_start(next) };
        (from..to, String::new())
    } else {
        let prev_end = ends.get(idx - 1).copied().unwrap_or(start);
        (line_end(text, prev_end)..line_end(text, end), String::new())
    }
}
