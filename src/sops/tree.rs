//! The document tree every store (YAML, JSON, dotenv) parses into.
//!
//! Each node remembers the byte span it came from, so that a change can be written back as
//! a splice of the original text: untouched bytes (comments, order, indentation, other
//! values' ciphertexts) never pass through an emitter.

use std::ops::Range;

/// One document of a file. YAML files may hold several; JSON and dotenv hold one.
#[derive(Debug)]
pub struct Document {
    /// The top-level mapping, without the `sops` metadata entry.
    pub root: MapNode,
    /// The metadata entry, where the file has one.
    pub sops: Option<SopsEntry>,
    /// Comments outside every scalar, in file order (YAML only).
    pub comments: Vec<Comment>,
    /// The offset where this document's content ends: new top-level entries and the
    /// metadata block go here.
    pub end: usize,
}

/// The `sops:` entry of a document.
#[derive(Debug)]
pub struct SopsEntry {
    pub value: Node,
    /// The bytes to drop to remove the entry: whole lines in YAML and dotenv, the member
    /// and its comma in JSON.
    pub removal: Vec<Range<usize>>,
}

impl Document {
    /// Wipes every scalar and comment text, for trees parsed from plaintext.
    pub fn scrub(&mut self) {
        use zeroize::Zeroize;
        for e in &mut self.root.entries {
            e.value.scrub();
        }
        for c in &mut self.comments {
            c.text.zeroize();
        }
    }
}

impl SopsEntry {
    /// The entry whose key starts at `key_start`: removing it drops whole lines, from the
    /// key's line to the end of the value's last line.
    pub fn whole_lines(src: &str, key_start: usize, value: Node) -> Self {
        let start = super::format::line_start(src, key_start);
        let end = super::format::line_end(src, value.content_end())
            .saturating_add(1)
            .min(src.len());
        let lines = start..end;
        Self {
            value,
            removal: vec![lines],
        }
    }
}

#[derive(Debug)]
pub enum Node {
    Map(MapNode),
    List(ListNode),
    Scalar(ScalarNode),
}

impl Node {
    fn scrub(&mut self) {
        match self {
            Node::Scalar(s) => zeroize::Zeroize::zeroize(&mut s.text),
            Node::Map(m) => m.entries.iter_mut().for_each(|e| e.value.scrub()),
            Node::List(l) => l.items.iter_mut().for_each(|i| i.node.scrub()),
        }
    }

    /// The first byte of the node's own text.
    pub fn start(&self) -> usize {
        match self {
            Node::Map(m) => m.span.start,
            Node::List(l) => l.span.start,
            Node::Scalar(s) => s.span.start,
        }
    }

    /// The end of the last text that belongs to the node (the last scalar or the closing
    /// bracket), so that trailing comments and blank lines are not counted as its content.
    pub fn content_end(&self) -> usize {
        match self {
            Node::Scalar(s) => s.span.end,
            Node::Map(m) if m.flow || m.entries.is_empty() => m.span.end,
            Node::Map(m) => m
                .entries
                .last()
                .map_or(m.span.end, |e| e.value.content_end()),
            Node::List(l) if l.flow || l.items.is_empty() => l.span.end,
            Node::List(l) => l.items.last().map_or(l.span.end, |i| i.node.content_end()),
        }
    }

    /// Every scalar span below this node, keys included.
    pub fn collect_spans(&self, out: &mut Vec<Range<usize>>) {
        match self {
            Node::Scalar(s) => out.push(s.span.clone()),
            Node::Map(m) => {
                for e in &m.entries {
                    out.push(e.key_span.clone());
                    e.value.collect_spans(out);
                }
            }
            Node::List(l) => {
                for i in &l.items {
                    i.node.collect_spans(out);
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct MapNode {
    pub entries: Vec<Entry>,
    pub span: Range<usize>,
    /// Written in flow style (`{a: 1}` in YAML; always true in JSON).
    pub flow: bool,
    /// The column of the keys (block style) or of the opening brace.
    pub indent: usize,
}

impl MapNode {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub value: Node,
}

#[derive(Debug)]
pub struct ListNode {
    pub items: Vec<Item>,
    pub span: Range<usize>,
    pub flow: bool,
    pub indent: usize,
}

#[derive(Debug)]
pub struct Item {
    /// Where the item starts: its `- ` indicator in a YAML block list, else the node.
    pub start: usize,
    pub node: Node,
}

#[derive(Debug)]
pub struct ScalarNode {
    /// The scalar's value after unquoting and unescaping.
    pub text: String,
    pub style: Style,
    /// The scalar's bytes in the file, quotes included; for YAML block scalars, from the
    /// `|`/`>` indicator to the end of the content.
    pub span: Range<usize>,
    /// Inside a flow collection, where a plain `ENC[...]` would end the collection early.
    pub in_flow: bool,
}

/// How a scalar was written, which decides its type when it is not encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A YAML plain scalar: typed by YAML's resolution rules.
    Plain,
    /// A YAML quoted scalar or one with a `!!str` tag: always a string.
    Quoted,
    /// A YAML literal or folded block scalar: always a string.
    Block,
    JsonString,
    JsonNumber,
    JsonBool,
    JsonNull,
    /// A dotenv value: always a string.
    Dotenv,
}

#[derive(Debug, Clone)]
pub struct Comment {
    /// The text after `#`.
    pub text: String,
    /// From `#` to the end of its line (newline excluded).
    pub span: Range<usize>,
}
