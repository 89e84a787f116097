//! A fast reader for the block YAML that sops writes (and keyroll splices): one entry a line,
//! plain or single-line quoted scalars, literal blocks for the key stanzas, `[]` and `{}`.
//!
//! It builds exactly the tree the general reader (saphyr) builds, spans included, in a
//! fraction of the time; a 10,000-value file is most of what `decrypt` spends otherwise.
//! Anything outside that shape (flow collections, anchors, tags, multi-line plain scalars,
//! rare escapes, tabs, CRLF) makes it give up, and the general reader takes over; a test
//! checks that both agree wherever this one accepts.

use crate::sops::tree::{
    Document, Entry, Item, ListNode, MapNode, Node, ScalarNode, SopsEntry, Style,
};

/// The reader gave up: the general reader must handle this text.
#[derive(Debug)]
pub struct Unsupported;

type R<T> = Result<T, Unsupported>;

/// One line of the text: where its content starts and ends (no indentation, no newline).
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Column of the first non-space character.
    indent: usize,
    /// Offset of the first non-space character.
    content: usize,
    /// Offset of the end of the line (before `\n`).
    end: usize,
}

pub fn parse(src: &str) -> R<Vec<Document>> {
    // Control characters (tabs and CRs among them) are left to the general reader.
    if src.bytes().any(|b| b < 0x20 && b != b'\n')
        || src.starts_with('\u{feff}')
        || has_special_unicode(src)
    {
        return Err(Unsupported);
    }
    let lines = split_lines(src);
    let mut p = Reader {
        src,
        lines,
        i: 0,
        depth: 0,
    };
    let mut docs = Vec::new();
    loop {
        p.skip_blank_and_comments();
        let Some(line) = p.peek() else { break };
        if p.text(line) == "---" {
            p.i += 1;
            p.skip_blank_and_comments();
        } else if !docs.is_empty() {
            return Err(Unsupported);
        }
        let Some(first) = p.peek() else {
            return Err(Unsupported);
        };
        if first.indent != 0 || p.text(first) == "---" || p.text(first) == "..." {
            return Err(Unsupported);
        }
        let (root, sops) = p.map(0, first.content, true)?;
        let end = root.span.end;
        docs.push(Document {
            root,
            sops,
            comments: Vec::new(),
            end,
        });
    }
    if docs.is_empty() {
        return Err(Unsupported);
    }
    Ok(docs)
}

/// Unicode line breaks and no-break spaces, which YAML treats specially and this reader
/// does not try to.
fn has_special_unicode(src: &str) -> bool {
    !src.is_ascii()
        && src
            .chars()
            .any(|c| matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{a0}'))
}

fn split_lines(src: &str) -> Vec<Line> {
    let mut out = Vec::with_capacity(src.len() / 40 + 1);
    let mut start = 0;
    for (i, b) in src.bytes().enumerate() {
        if b == b'\n' {
            out.push(line_at(src, start, i));
            start = i + 1;
        }
    }
    if start < src.len() {
        out.push(line_at(src, start, src.len()));
    }
    out
}

fn line_at(src: &str, start: usize, end: usize) -> Line {
    let bytes = src.as_bytes();
    let mut content = start;
    while content < end && bytes.get(content) == Some(&b' ') {
        content += 1;
    }
    Line {
        indent: content - start,
        content,
        end,
    }
}

struct Reader<'a> {
    src: &'a str,
    lines: Vec<Line>,
    i: usize,
    /// How many maps and lists enclose the current line; past the limit the general reader
    /// takes over (and refuses), so that recursion here stays bounded.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<Line> {
        self.lines.get(self.i).copied()
    }

    fn text(&self, l: Line) -> &'a str {
        self.src.get(l.content..l.end).unwrap_or("")
    }

    fn skip_blank_and_comments(&mut self) {
        while let Some(l) = self.peek() {
            let t = self.text(l);
            if t.is_empty() || t.starts_with('#') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Where the next token starts (the first content after blank and comment lines), which
    /// is where the general reader ends a block collection.
    fn next_token_offset(&mut self) -> usize {
        self.skip_blank_and_comments();
        match self.peek() {
            Some(l) => l.content,
            None => self.src.len(),
        }
    }

    /// A block map whose keys sit at column `indent`; its first key starts at `first`
    /// (possibly after a `- ` on the same line).
    fn map(&mut self, indent: usize, first: usize, top: bool) -> R<(MapNode, Option<SopsEntry>)> {
        self.enter()?;
        let map = self.map_entries(indent, first, top);
        self.depth -= 1;
        map
    }

    fn enter(&mut self) -> R<()> {
        if self.depth >= crate::sops::strict::MAX_DEPTH {
            return Err(Unsupported);
        }
        self.depth += 1;
        Ok(())
    }

    fn map_entries(
        &mut self,
        indent: usize,
        first: usize,
        top: bool,
    ) -> R<(MapNode, Option<SopsEntry>)> {
        let mut entries = Vec::new();
        let mut sops = None;
        let mut key_at = first;
        loop {
            let line = self.peek().ok_or(Unsupported)?;
            let rest = self.src.get(key_at..line.end).ok_or(Unsupported)?;
            let (key, after_colon) = split_key(rest)?;
            let key_span = key_at..key_at + key.len();
            let value_at = key_at + after_colon;
            let value_text = self.src.get(value_at..line.end).ok_or(Unsupported)?;
            self.i += 1;
            let value = self.value(indent, value_at, value_text)?;
            if top && key == "sops" {
                if sops.is_some() {
                    // A second metadata section: the general reader names the error.
                    return Err(Unsupported);
                }
                sops = Some(SopsEntry::whole_lines(self.src, key_at, value));
            } else {
                entries.push(Entry {
                    key: key.to_owned(),
                    key_span,
                    value,
                });
            }
            // The next entry of this map, if the next content line is one.
            let next = self.next_token_offset();
            match self.peek() {
                Some(l)
                    if l.indent == indent
                        && !self.text(l).starts_with("- ")
                        && self.text(l) != "-"
                        && !is_doc_marker(self.text(l)) =>
                {
                    key_at = l.content;
                }
                Some(l) if l.indent > indent => return Err(Unsupported),
                _ => {
                    return Ok((
                        MapNode {
                            entries,
                            span: first..next,
                            flow: false,
                            indent,
                        },
                        sops,
                    ));
                }
            }
        }
    }

    /// The value after `key:` on `line`, or the block that follows it.
    fn value(&mut self, indent: usize, at: usize, text: &str) -> R<Node> {
        let trimmed = strip_comment(text)?;
        let value_start = at + (text.len() - text.trim_start_matches(' ').len());
        if trimmed.is_empty() {
            // A nested block: a map indented deeper, or a list (maybe at the same column).
            self.skip_blank_and_comments();
            let next = self.peek().ok_or(Unsupported)?;
            let t = self.text(next);
            if t.starts_with("- ") || t == "-" {
                if next.indent < indent {
                    return Err(Unsupported);
                }
                return self.list(next.indent, next.content).map(Node::List);
            }
            if next.indent <= indent {
                // `key:` with nothing after it is a null.
                return Err(Unsupported);
            }
            return self
                .map(next.indent, next.content, false)
                .map(|(m, _)| Node::Map(m));
        }
        self.scalar_or_empty(value_start, trimmed, indent)
    }

    /// A scalar written on one line, `[]`/`{}`, or a literal block.
    fn scalar_or_empty(&mut self, start: usize, text: &str, indent: usize) -> R<Node> {
        let end = start + text.len();
        match text {
            "[]" => {
                return Ok(Node::List(ListNode {
                    items: Vec::new(),
                    span: start..end,
                    flow: true,
                    indent: column(self.src, start),
                }));
            }
            "{}" => {
                return Ok(Node::Map(MapNode {
                    entries: Vec::new(),
                    span: start..end,
                    flow: true,
                    indent: column(self.src, start),
                }));
            }
            "|" | "|-" => return self.literal(start, text == "|-", indent),
            _ => {}
        }
        let first = text.as_bytes().first().copied().ok_or(Unsupported)?;
        let (value, style) = match first {
            b'"' => (double_quoted(text)?, Style::Quoted),
            b'\'' => (single_quoted(text)?, Style::Quoted),
            b'[' | b'{' | b']' | b'}' | b',' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@'
            | b'`' => {
                return Err(Unsupported);
            }
            b'-' | b'?' | b':' if text.len() == 1 || text.as_bytes().get(1) == Some(&b' ') => {
                return Err(Unsupported);
            }
            _ => {
                if text.contains(": ") || text.ends_with(':') {
                    return Err(Unsupported);
                }
                (text.to_owned(), Style::Plain)
            }
        };
        // A plain scalar could go on over the next lines: refuse if the next content line is
        // indented deeper than the entry.
        if style == Style::Plain
            && let Some(next) = self.lines.get(self.i)
            && next.indent > indent
            && !self.text(*next).is_empty()
        {
            return Err(Unsupported);
        }
        Ok(Node::Scalar(ScalarNode {
            text: value,
            style,
            span: start..end,
            in_flow: false,
        }))
    }

    /// A literal block (`|` clips the final newline to one, `|-` strips it).
    fn literal(&mut self, start: usize, strip: bool, indent: usize) -> R<Node> {
        let mut content = String::new();
        let mut block_indent = None;
        let mut end = start + if strip { 2 } else { 1 };
        while let Some(l) = self.peek() {
            let t = self.text(l);
            if t.is_empty() {
                // Blank lines end the block when what follows is not part of it.
                let next = self
                    .lines
                    .iter()
                    .skip(self.i)
                    .find(|n| !self.text(**n).is_empty());
                if next.is_none_or(|n| n.indent <= indent) {
                    break;
                }
                return Err(Unsupported);
            }
            if l.indent <= indent {
                break;
            }
            let bi = *block_indent.get_or_insert(l.indent);
            if l.indent != bi {
                return Err(Unsupported);
            }
            content.push_str(t);
            content.push('\n');
            end = l.end;
            self.i += 1;
        }
        if block_indent.is_none() {
            return Err(Unsupported);
        }
        if strip {
            content.pop();
        }
        Ok(Node::Scalar(ScalarNode {
            text: content,
            style: Style::Block,
            span: start..end,
            in_flow: false,
        }))
    }

    /// A block list whose dashes sit at column `indent`; its first dash is at `first` (on
    /// the current line, possibly after its parent item's dash).
    fn list(&mut self, indent: usize, first: usize) -> R<ListNode> {
        self.enter()?;
        let list = self.list_items(indent, first);
        self.depth -= 1;
        list
    }

    fn list_items(&mut self, indent: usize, first: usize) -> R<ListNode> {
        let mut items = Vec::new();
        let mut dash = first;
        loop {
            let line = self.peek().ok_or(Unsupported)?;
            let after = self
                .src
                .get(dash..line.end)
                .and_then(|t| t.strip_prefix("- "))
                .ok_or(Unsupported)?;
            let item_at = dash + 2 + (after.len() - after.trim_start_matches(' ').len());
            let item_text = self.src.get(item_at..line.end).ok_or(Unsupported)?;
            if item_text.starts_with('#') || item_text.is_empty() || item_text == "-" {
                return Err(Unsupported);
            }
            let node = if item_text.starts_with("- ") {
                // `- - x`: a list inside the list, its dashes at the column of the inner one.
                Node::List(self.list(column(self.src, item_at), item_at)?)
            } else if split_key(item_text).is_ok()
                && !item_text.starts_with('"')
                && !item_text.starts_with('\'')
            {
                // `- key: value`: a map whose keys sit at the column after the dash.
                let col = column(self.src, item_at);
                Node::Map(self.map(col, item_at, false)?.0)
            } else {
                self.i += 1;
                let t = strip_comment(item_text)?;
                self.scalar_or_empty(item_at, t, indent)?
            };
            items.push(Item { start: dash, node });
            let next = self.next_token_offset();
            match self.peek() {
                Some(l) if l.indent == indent && self.text(l).starts_with("- ") => dash = l.content,
                Some(l) if l.indent > indent => return Err(Unsupported),
                _ => {
                    return Ok(ListNode {
                        items,
                        span: first..next,
                        flow: false,
                        indent,
                    });
                }
            }
        }
    }
}

fn is_doc_marker(t: &str) -> bool {
    t == "---" || t == "..." || t.starts_with("--- ")
}

fn column(src: &str, offset: usize) -> usize {
    crate::sops::format::char_column(src, offset)
}

/// Splits `key: rest` (or `key:` at the end of the line): the key and the offset after the
/// colon. Keys must be plain and simple.
fn split_key(text: &str) -> R<(&str, usize)> {
    let colon = text
        .find(": ")
        .or_else(|| text.strip_suffix(':').map(str::len))
        .ok_or(Unsupported)?;
    let key = text.get(..colon).ok_or(Unsupported)?;
    let first = key.as_bytes().first().copied().ok_or(Unsupported)?;
    if key.ends_with(' ')
        || key.contains(" #")
        || matches!(
            first,
            b'"' | b'\''
                | b'['
                | b'{'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'%'
                | b'@'
                | b'`'
                | b'#'
                | b'?'
                | b','
                | b']'
                | b'}'
        )
        || (first == b'-' && key.as_bytes().get(1).is_none_or(|b| *b == b' '))
        || key.contains(['[', ']', '{', '}', ','])
        || !crate::sops::value::plain_key_is_string(key)
    {
        return Err(Unsupported);
    }
    Ok((key, colon + 1))
}

/// The value without a trailing ` # comment` and trailing spaces. Quoted values keep any `#`
/// inside their quotes.
fn strip_comment(text: &str) -> R<&str> {
    let t = text.trim_start_matches(' ');
    let body_end = match t.as_bytes().first() {
        Some(b'"') => closing_double_quote(t).ok_or(Unsupported)? + 1,
        Some(b'\'') => closing_single_quote(t).ok_or(Unsupported)? + 1,
        _ => t.find(" #").unwrap_or(t.len()),
    };
    let (body, rest) = t.split_at(body_end.min(t.len()));
    let rest = rest.trim_start_matches(' ');
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(Unsupported);
    }
    Ok(body.trim_end_matches(' '))
}

fn closing_double_quote(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn closing_single_quote(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b.get(i)? == &b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn double_quoted(t: &str) -> R<String> {
    let inner = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or(Unsupported)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or(Unsupported)?;
        let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> R<char> {
            let s: String = chars.by_ref().take(n).collect();
            if s.len() != n {
                return Err(Unsupported);
            }
            u32::from_str_radix(&s, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(Unsupported)
        };
        match e {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'x' => out.push(hex(&mut chars, 2)?),
            'u' => out.push(hex(&mut chars, 4)?),
            'U' => out.push(hex(&mut chars, 8)?),
            _ => return Err(Unsupported),
        }
    }
    Ok(out)
}

fn single_quoted(t: &str) -> R<String> {
    let inner = t
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or(Unsupported)?;
    Ok(inner.replace("''", "'"))
}
