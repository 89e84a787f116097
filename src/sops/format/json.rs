//! Reads JSON into the span-carrying tree. A small recursive-descent parser of our own:
//! serde_json does not report where each value sits in the text, and splicing needs that.

use crate::sops::error::SyntaxError;
use crate::sops::tree::{
    Document, Entry, Item, ListNode, MapNode, Node, ScalarNode, SopsEntry, Style,
};

use crate::sops::strict::MAX_DEPTH;

pub fn parse(src: &str) -> Result<Document, SyntaxError> {
    let mut p = JsonParser {
        src,
        b: src.as_bytes(),
        i: 0,
        newlines: src
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'\n').then_some(i))
            .collect(),
    };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(p.err("the top level must be an object"));
    }
    let (root, sops) = p.object(0, true)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err("unexpected text after the top-level object"));
    }
    let end = match root.entries.last() {
        Some(e) => e.value.content_end(),
        None => root.span.start + 1,
    };
    let end = match &sops {
        Some(s) if s.removal.first().is_some_and(|r| r.start >= end) => end,
        Some(s) => s.value.content_end().max(end),
        None => end,
    };
    Ok(Document {
        root,
        sops,
        comments: Vec::new(),
        end,
    })
}

struct JsonParser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    /// Offsets of every newline, so that finding a column does not scan back over a long
    /// line (minified JSON is one line; scanning would make parsing quadratic).
    newlines: Vec<usize>,
}

impl JsonParser<'_> {
    fn err(&self, message: &str) -> SyntaxError {
        SyntaxError::at(self.src, self.i, message)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), SyntaxError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn column(&self, at: usize) -> usize {
        let before = self.newlines.partition_point(|&n| n < at);
        let line_start = match before.checked_sub(1) {
            Some(i) => self.newlines.get(i).map_or(0, |n| n + 1),
            None => 0,
        };
        at.saturating_sub(line_start)
    }

    fn object(
        &mut self,
        depth: usize,
        top: bool,
    ) -> Result<(MapNode, Option<SopsEntry>), SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!(
                "nesting is deeper than {MAX_DEPTH} levels, keyroll's limit"
            )));
        }
        let start = self.i;
        self.i += 1;
        let mut entries: Vec<Entry> = Vec::new();
        let mut sops = None;
        let mut indent = self.column(start);
        let mut prev_end = self.i;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok((
                MapNode {
                    entries,
                    span: start..self.i,
                    flow: true,
                    indent,
                },
                None,
            ));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_start = self.i;
            let key = self.string()?;
            let key_span = key_start..self.i;
            if entries.is_empty() && sops.is_none() {
                indent = self.column(key_start);
            }
            self.expect(b':', "expected `:` after the key")?;
            let value = self.value(depth + 1)?;
            let value_end = value.content_end();
            self.ws();
            let more = match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    true
                }
                Some(b'}') => {
                    self.i += 1;
                    false
                }
                _ => return Err(self.err("expected `,` or `}`")),
            };
            if top && key == "sops" && sops.is_some() {
                return Err(SyntaxError::at(
                    self.src,
                    key_start,
                    "a second `sops` metadata member: a file has exactly one",
                ));
            }
            if top && key == "sops" {
                // Drop the member with the comma that joins it to its neighbour.
                let removal = if entries.is_empty() && more {
                    let mut next = self.i;
                    while matches!(self.b.get(next), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                        next += 1;
                    }
                    key_start..next
                } else {
                    prev_end..value_end
                };
                sops = Some(SopsEntry {
                    value,
                    removal: vec![removal],
                });
            } else {
                entries.push(Entry {
                    key,
                    key_span,
                    value,
                });
            }
            prev_end = value_end;
            if !more {
                return Ok((
                    MapNode {
                        entries,
                        span: start..self.i,
                        flow: true,
                        indent,
                    },
                    sops,
                ));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<ListNode, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!(
                "nesting is deeper than {MAX_DEPTH} levels, keyroll's limit"
            )));
        }
        let start = self.i;
        self.i += 1;
        let mut items = Vec::new();
        let mut indent = self.column(start);
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(ListNode {
                items,
                span: start..self.i,
                flow: true,
                indent,
            });
        }
        loop {
            let node = self.value(depth + 1)?;
            if items.is_empty() {
                indent = self.column(node.start());
            }
            items.push(Item {
                start: node.start(),
                node,
            });
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(ListNode {
                        items,
                        span: start..self.i,
                        flow: true,
                        indent,
                    });
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SyntaxError> {
        self.ws();
        let start = self.i;
        let scalar = |text: String, style, end| {
            Node::Scalar(ScalarNode {
                text,
                style,
                span: start..end,
                in_flow: true,
            })
        };
        match self.peek() {
            Some(b'{') => Ok(Node::Map(self.object(depth, false)?.0)),
            Some(b'[') => Ok(Node::List(self.array(depth)?)),
            Some(b'"') => {
                let text = self.string()?;
                Ok(scalar(text, Style::JsonString, self.i))
            }
            Some(b't') if self.b.get(self.i..self.i + 4) == Some(b"true") => {
                self.i += 4;
                Ok(scalar("true".into(), Style::JsonBool, self.i))
            }
            Some(b'f') if self.b.get(self.i..self.i + 5) == Some(b"false") => {
                self.i += 5;
                Ok(scalar("false".into(), Style::JsonBool, self.i))
            }
            Some(b'n') if self.b.get(self.i..self.i + 4) == Some(b"null") => {
                self.i += 4;
                Ok(scalar("null".into(), Style::JsonNull, self.i))
            }
            Some(b'-' | b'0'..=b'9') => {
                let text = self.number()?;
                Ok(scalar(text, Style::JsonNumber, self.i))
            }
            _ => Err(self.err("expected a value")),
        }
    }

    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.i += 1;
            }
            p.i - s
        };
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        Ok(self.src.get(start..self.i).unwrap_or("").to_owned())
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let run_start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.src.get(run_start..self.i).unwrap_or(""));
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self
            .src
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                return Err(self.err("unpaired surrogate"));
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(self.err("unpaired surrogate"));
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(c).ok_or_else(|| self.err("invalid \\u escape"));
        }
        char::from_u32(hi).ok_or_else(|| self.err("unpaired surrogate"))
    }
}
