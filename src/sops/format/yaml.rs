//! Reads YAML into the span-carrying tree, on top of saphyr's event parser.
//!
//! saphyr reports positions in characters; the tree stores byte offsets so that edits can
//! splice the original `&str`. Comments are not events in YAML parsers, so they are found
//! afterwards: a `#` that starts a line's content or follows a blank, outside every scalar.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::sops::error::SyntaxError;
use crate::sops::tree::{
    Comment, Document, Entry, Item, ListNode, MapNode, Node, ScalarNode, SopsEntry, Style,
};

use crate::sops::strict::MAX_DEPTH;

pub fn parse(src: &str) -> Result<Vec<Document>, SyntaxError> {
    if let Some((at, c)) = src.char_indices().find(|(_, c)| !printable(*c)) {
        return Err(SyntaxError::at(
            src,
            at,
            format!(
                "control character U+{:04X}: YAML allows none outside escapes (sops refuses it)",
                u32::from(c)
            ),
        ));
    }
    // sops's own layout takes the fast path; everything else the general reader.
    if let Ok(mut docs) = super::yaml_fast::parse(src) {
        attach_comments(src, &mut docs);
        return Ok(docs);
    }
    parse_general(src)
}

/// YAML's printable characters, as Go's YAML reader (which sops uses) checks them in the
/// whole text, comments included.
fn printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The general reader (saphyr), for any YAML.
pub fn parse_general(src: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut b = Builder {
        src,
        offsets: Offsets::new(src),
        parser: Parser::new_from_str(src),
        last_end: 0,
    };
    match b.next()?.0 {
        Event::StreamStart => {}
        _ => {
            return Err(SyntaxError::at(
                src,
                0,
                "expected the start of a YAML stream",
            ));
        }
    }
    let mut docs = Vec::new();
    loop {
        let (event, span) = b.next()?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart(_) => docs.push(b.document(span)?),
            _ => return Err(b.error(span, "expected a document")),
        }
    }
    if docs.is_empty() {
        docs.push(Document {
            root: MapNode {
                entries: Vec::new(),
                span: src.len()..src.len(),
                flow: false,
                indent: 0,
            },
            sops: None,
            comments: Vec::new(),
            end: src.len(),
        });
    }
    attach_comments(src, &mut docs);
    Ok(docs)
}

/// Parses with both readers, for the test that they agree: `None` when the fast reader
/// declines the text.
#[doc(hidden)]
pub fn parse_both(src: &str) -> Option<(String, String)> {
    let mut fast = super::yaml_fast::parse(src).ok()?;
    attach_comments(src, &mut fast);
    let general = match parse_general(src) {
        Ok(docs) => format!("{docs:#?}"),
        Err(e) => format!("the general reader refuses it: {e}"),
    };
    Some((format!("{fast:#?}"), general))
}

/// Maps saphyr's character indexes to byte offsets; free for ASCII text.
struct Offsets {
    table: Option<Vec<usize>>,
    len: usize,
}

impl Offsets {
    fn new(src: &str) -> Self {
        let table = (!src.is_ascii()).then(|| src.char_indices().map(|(b, _)| b).collect());
        Self {
            table,
            len: src.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

struct Builder<'a> {
    src: &'a str,
    offsets: Offsets,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// The end of the previous event, where a block scalar's indicator search begins.
    last_end: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), SyntaxError> {
        match self.parser.next() {
            Some(Ok((event, span))) => Ok((event, span)),
            Some(Err(e)) => Err(SyntaxError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                // saphyr stops flow nesting a little past keyroll's own limit; say which
                // limit the file hit in keyroll's words.
                message: if e.info().contains("recursion limit") {
                    format!("nesting is deeper than {MAX_DEPTH} levels, keyroll's limit")
                } else {
                    e.info().to_owned()
                },
            }),
            None => Err(SyntaxError::at(
                self.src,
                self.src.len(),
                "unexpected end of input",
            )),
        }
    }

    fn error(&self, span: Span, message: &str) -> SyntaxError {
        SyntaxError::at(self.src, self.offsets.byte(span.start.index()), message)
    }

    fn document(&mut self, _start: Span) -> Result<Document, SyntaxError> {
        let (event, span) = self.next()?;
        let (root, sops) = match event {
            Event::MappingStart(..) => self.map(span, 0, true)?,
            // An empty document; with an anchor or a tag it is a null node, not a mapping.
            Event::Scalar(ref v, ScalarStyle::Plain, 0, None) if v.is_empty() => {
                let at = self.offsets.byte(span.start.index());
                (
                    MapNode {
                        entries: Vec::new(),
                        span: at..at,
                        flow: false,
                        indent: 0,
                    },
                    None,
                )
            }
            _ => return Err(self.error(span, "the top level of a document must be a mapping")),
        };
        let (event, span) = self.next()?;
        if !matches!(event, Event::DocumentEnd) {
            return Err(self.error(span, "expected the end of the document"));
        }
        let end = root.span.end;
        Ok(Document {
            root,
            sops,
            comments: Vec::new(),
            end,
        })
    }

    fn node(
        &mut self,
        event: Event<'a>,
        span: Span,
        depth: usize,
        in_flow: bool,
    ) -> Result<Node, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(
                span,
                &format!("nesting is deeper than {MAX_DEPTH} levels, keyroll's limit"),
            ));
        }
        match event {
            Event::Scalar(text, style, _anchor, tag) => {
                // sops decodes a tagged scalar by its tag (`!!int ENC[...]` is no string and
                // is neither decrypted nor counted in its MAC); only `!!str` reads as the
                // text it is, so any other tag is refused.
                if let Some(t) = tag.as_ref()
                    && !(t.is_yaml_core_schema() && t.suffix == "str")
                {
                    return Err(self.error(
                        span,
                        &format!(
                            "the YAML tag `{}{}` is not supported (sops reads tagged values \
                             by their tag; only !!str is accepted)",
                            t.handle, t.suffix
                        ),
                    ));
                }
                let mut start = self.offsets.byte(span.start.index());
                let mut end = self.offsets.byte(span.end.index());
                let style = match style {
                    _ if tag.is_some() => Style::Quoted,
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => {
                        // saphyr's span covers the content only; the value's text starts at
                        // the `|`/`>` indicator and ends with the last content line.
                        let between = self.src.get(self.last_end..start).unwrap_or("");
                        if let Some(i) = between.find(['|', '>']) {
                            start = self.last_end + i;
                        }
                        let content = self.src.get(start..end).unwrap_or("");
                        end = start + content.trim_end_matches(['\n', '\r', ' ']).len();
                        Style::Block
                    }
                };
                self.last_end = end;
                Ok(Node::Scalar(ScalarNode {
                    text: text.into_owned(),
                    style,
                    span: start..end,
                    in_flow,
                }))
            }
            Event::MappingStart(..) => Ok(Node::Map(self.map(span, depth + 1, false)?.0)),
            Event::SequenceStart(..) => Ok(Node::List(self.list(span, depth + 1)?)),
            Event::Alias(_) => Err(self.error(
                span,
                "YAML aliases are not supported (sops expands them; so must the file)",
            )),
            _ => Err(self.error(span, "unexpected YAML event")),
        }
    }

    fn map(
        &mut self,
        span: Span,
        depth: usize,
        top: bool,
    ) -> Result<(MapNode, Option<SopsEntry>), SyntaxError> {
        let start = self.offsets.byte(span.start.index());
        // A flow collection's start marker covers its bracket; a block one's is empty (and may
        // sit on a first item that is itself a flow collection).
        let flow = span.end.index() > span.start.index();
        self.last_end = self.offsets.byte(span.end.index());
        let mut entries: Vec<Entry> = Vec::new();
        let mut sops = None;
        let mut indent = span.start.col();
        loop {
            let (event, kspan) = self.next()?;
            let (key, key_span) = match event {
                Event::MappingEnd => {
                    let end = self.offsets.byte(kspan.end.index());
                    self.last_end = end;
                    return Ok((
                        MapNode {
                            entries,
                            span: start..end,
                            flow,
                            indent,
                        },
                        sops,
                    ));
                }
                Event::Scalar(key, style, _, tag) => {
                    // sops decodes keys as YAML values and refuses any that is not a string
                    // (`1:`, `true:`, `2024-01-15:`, `~:`).
                    let is_str_tag =
                        |t: &saphyr_parser::Tag| t.is_yaml_core_schema() && t.suffix == "str";
                    let not_string = match tag.as_ref() {
                        Some(t) => !is_str_tag(t),
                        None => {
                            style == ScalarStyle::Plain
                                && !crate::sops::value::plain_key_is_string(&key)
                        }
                    };
                    if not_string {
                        return Err(self.error(
                            kspan,
                            &format!(
                                "the key `{key}` is not a string in YAML (a number, boolean, \
                                 date or null); sops refuses such keys: quote it"
                            ),
                        ));
                    }
                    let ks = self.offsets.byte(kspan.start.index());
                    let ke = self.offsets.byte(kspan.end.index());
                    if entries.is_empty() && sops.is_none() && !flow {
                        indent = kspan.start.col();
                    }
                    (key.into_owned(), ks..ke)
                }
                _ => return Err(self.error(kspan, "mapping keys must be strings")),
            };
            self.last_end = key_span.end;
            let (event, vspan) = self.next()?;
            let value = self.node(event, vspan, depth, flow)?;
            if top && key == "sops" {
                if sops.is_some() {
                    return Err(SyntaxError::at(
                        self.src,
                        key_span.start,
                        "a second `sops` metadata section: a file has exactly one",
                    ));
                }
                // The whole `sops:` block, lines and all, so the plaintext view can drop it.
                sops = Some(SopsEntry::whole_lines(self.src, key_span.start, value));
            } else {
                entries.push(Entry {
                    key,
                    key_span,
                    value,
                });
            }
        }
    }

    fn list(&mut self, span: Span, depth: usize) -> Result<ListNode, SyntaxError> {
        let start = self.offsets.byte(span.start.index());
        let flow = span.end.index() > span.start.index();
        self.last_end = self.offsets.byte(span.end.index());
        let mut items: Vec<Item> = Vec::new();
        loop {
            let (event, ispan) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                let end = self.offsets.byte(ispan.end.index());
                self.last_end = end;
                // A block list starts at its first dash, wherever the parser's marker is
                // (for `key:\n- item` it points at the item).
                let (start, indent) = match items.first() {
                    Some(first) if !flow => (
                        first.start,
                        crate::sops::format::char_column(self.src, first.start),
                    ),
                    _ => (start, span.start.col()),
                };
                return Ok(ListNode {
                    items,
                    span: start..end,
                    flow,
                    indent,
                });
            }
            let node = self.node(event, ispan, depth, flow)?;
            let item_start = if flow {
                node.start()
            } else {
                dash_before(self.src, node.start())
            };
            items.push(Item {
                start: item_start,
                node,
            });
        }
    }
}

/// The `-` indicator in front of a block list item, found by stepping back over blanks.
fn dash_before(src: &str, at: usize) -> usize {
    let before = src.get(..at).unwrap_or("");
    let trimmed = before.trim_end_matches([' ', '\t']);
    if trimmed.ends_with('-') {
        trimmed.len() - 1
    } else {
        at
    }
}

/// Finds every comment: a `#` at the start of a line's content or after a blank, outside
/// every scalar, up to the end of its line.
fn attach_comments(src: &str, docs: &mut [Document]) {
    if !src.contains('#') {
        return;
    }
    let mut spans = Vec::new();
    for doc in docs.iter() {
        for e in &doc.root.entries {
            spans.push(e.key_span.clone());
            e.value.collect_spans(&mut spans);
        }
        if let Some(s) = &doc.sops {
            s.value.collect_spans(&mut spans);
        }
    }
    spans.sort_by_key(|s| s.start);
    let inside = |pos: usize| {
        let i = spans.partition_point(|s| s.start <= pos);
        i > 0 && spans.get(i - 1).is_some_and(|s| pos < s.end)
    };
    let bytes = src.as_bytes();
    let mut pos = 0;
    while let Some(off) = src.get(pos..).and_then(|t| t.find('#')) {
        let at = pos + off;
        let after_blank =
            at == 0 || matches!(bytes.get(at - 1), Some(b' ' | b'\t' | b'\n' | b'\r'));
        if after_blank && !inside(at) {
            let end = crate::sops::format::line_end(src, at);
            let end = if bytes.get(end.saturating_sub(1)) == Some(&b'\r') {
                end - 1
            } else {
                end
            };
            let comment = Comment {
                text: src.get(at + 1..end).unwrap_or("").to_owned(),
                span: at..end,
            };
            // A comment belongs to the document whose content it precedes (documents are
            // in text order, so their ends are sorted).
            let doc_index = docs
                .partition_point(|d| d.end <= at)
                .min(docs.len().saturating_sub(1));
            if let Some(d) = docs.get_mut(doc_index) {
                d.comments.push(comment);
            }
            pos = end;
        } else {
            pos = at + 1;
        }
    }
}
