//! Which lines of a comment are command lines, found the way GitHub shows the comment: the
//! comment is read as GitHub-Flavored Markdown, and a command line is a line of a paragraph
//! at the top of the document (in no quote, list, table, heading, footnote or HTML element)
//! whose whole text is plain: not code, a link, emphasis, math, raw HTML, an escape or an
//! entity. A line whose shown text starts with `/keyroll` but has formatting after it is
//! told apart, so the person hears why it did not run. Where GFM parsers or a browser may
//! read the comment differently (dollar math, raw HTML pulldown-cmark takes for text, raw
//! HTML a browser ends sooner), a line runs only if every reading shows it plainly and is
//! counted as a command line if any does, so nothing runs beside it.

use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::html::{self, Reader, Token};

/// What every command line starts with (any case).
pub(super) const PREFIX: &str = "/keyroll";

/// The most HTML elements kept open at once; past it everything after counts as hidden
/// (a browser would nest them all; keyroll need not tell how deep).
const MAX_OPEN_HTML: usize = 256;

/// A line of a comment that says `/keyroll` as its first word, in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// The whole line is plain text: its source (less indentation and trailing space).
    Plain(&'a str),
    /// The prefix is plain but formatting follows on the line (code, emphasis, a link, HTML,
    /// an escape, an entity): GitHub shows something other than what was typed.
    Formatted(&'a str),
}

/// GitHub's Markdown for comments: the GFM extensions (tables, strikethrough, footnotes),
/// its alert quotes and, when `math`, its math (`$…$`, `$$…$$`). Never smart punctuation:
/// GitHub shows ` -- ` as typed. Not task lists: GitHub turns `[ ]` into a box after
/// parsing, so `- [ ] ` followed by a line is one list item; pulldown-cmark's task lists
/// would end the item there and show the next line as a paragraph of its own.
fn github_options(math: bool) -> Options {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    if math {
        options | Options::ENABLE_MATH
    } else {
        options
    }
}

/// The length of the command prefix at the start of `text` (`/keyroll` and the whitespace
/// after it), if `text` starts with one.
pub(super) fn prefix_len(text: &str) -> Option<usize> {
    let head = text.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    match text.get(PREFIX.len()..)?.chars().next() {
        None => Some(PREFIX.len()),
        Some(c) if c.is_whitespace() => Some(PREFIX.len() + c.len_utf8()),
        Some(_) => None,
    }
}

/// Whether `line` could be a table's delimiter row: only `|`, `-`, `:` and spaces, with a
/// `-` and a `|` or `:` (a line of `-` alone makes a heading, which the parser sees).
fn looks_like_delimiter_row(line: &str) -> bool {
    line.contains('-')
        && line.contains(['|', ':'])
        && line
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// The raw HTML GitHub may see in a paragraph where pulldown-cmark sees text: a comment,
/// CDATA, processing instruction or declaration that ends in the paragraph (pulldown-cmark
/// misses some, e.g. CDATA holding backticks). A browser reads CDATA and the like as a
/// comment up to the first `>`, and what follows as HTML, so such a piece hides the rest of
/// its paragraph. Where each end mark is next is remembered, so a paragraph is searched
/// once per kind.
#[derive(Debug, Default)]
struct RawHtmlAhead {
    /// Per kind: searched from this offset, found at that one (None: not before the end).
    next: [Option<(usize, Option<usize>)>; 4],
}

impl RawHtmlAhead {
    /// Where raw HTML starting at `at` ends (past its end mark), if it starts and ends there.
    fn end(&mut self, body: &str, at: usize, paragraph_end: usize) -> Option<usize> {
        let rest = body.get(at..paragraph_end)?;
        let (kind, skip, mark) = if rest.starts_with("<!--") {
            (0, 2, "-->")
        } else if rest.starts_with("<![CDATA[") {
            (1, 9, "]]>")
        } else if rest.starts_with("<?") {
            (2, 2, "?>")
        } else if rest
            .strip_prefix("<!")
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            (3, 2, ">")
        } else {
            return None;
        };
        let from = at + skip;
        let slot = self.next.get_mut(kind)?;
        let found = match *slot {
            Some((searched, found)) if searched <= from && found.is_none_or(|f| f >= from) => found,
            _ => {
                let found = body.get(from..paragraph_end)?.find(mark).map(|i| from + i);
                *slot = Some((from, found));
                found
            }
        };
        found.map(|f| f + mark.len())
    }
}

/// What is open at a point, outermost first.
#[derive(Debug)]
enum Open {
    /// A Markdown block (a paragraph, quote, list item …) or, when `inline`, an inline span
    /// (emphasis, a link …).
    Markdown { inline: bool },
    /// An element raw HTML opened.
    Html(String),
}

/// A stretch of a top-level paragraph's source and whether it shows as typed.
#[derive(Debug)]
struct Piece {
    range: Range<usize>,
    plain: bool,
    /// Another GFM parser may read it otherwise: command lines in it do not run but count.
    ambiguous: bool,
}

/// What is open while reading the comment, Markdown and HTML in one stack (as the browser
/// builds one tree of both).
#[derive(Debug, Default)]
struct Nesting {
    open: Vec<Open>,
    html_open: usize,
    /// More HTML elements than kept were open: nothing after counts.
    overflowed: bool,
}

impl Nesting {
    fn token(&mut self, token: Token) {
        match token {
            Token::Open(name) => {
                if self.html_open < MAX_OPEN_HTML {
                    self.open.push(Open::Html(name));
                    self.html_open += 1;
                } else {
                    self.overflowed = true;
                }
            }
            // A close tag ends the nearest element of its name opened inside the current
            // Markdown block; one opened outside it stays open (a browser ignores such a
            // close tag inside a paragraph), and so does one with a block element opened
            // after it, unless the tag closes a block itself (a browser ignores `</span>`
            // inside `<details>`, but `</div>` ends what was opened inside the div).
            Token::Close(name) => {
                let closes_block = html::is_block(&name);
                let found = self
                    .open
                    .iter()
                    .rev()
                    .take_while(|o| matches!(o, Open::Html(_)))
                    .take_while(|o| {
                        closes_block
                            || !matches!(o, Open::Html(n) if html::is_block(n) && *n != name)
                    })
                    .position(|o| matches!(o, Open::Html(n) if *n == name));
                if let Some(from_top) = found {
                    let keep = self.open.len().saturating_sub(from_top + 1);
                    self.truncate(keep);
                }
            }
        }
    }

    /// Ends the innermost Markdown block or span, and the HTML elements opened inside it;
    /// except that a span's end leaves open a block element (`<pre>`, `<div>` …) opened
    /// inside it: a browser ignores the span's close tag there.
    fn end_markdown(&mut self) {
        let Some(at) = self
            .open
            .iter()
            .rposition(|o| matches!(o, Open::Markdown { .. }))
        else {
            self.truncate(0);
            return;
        };
        let inline = matches!(self.open.get(at), Some(Open::Markdown { inline: true }));
        let block_inside = self
            .open
            .get(at..)
            .unwrap_or_default()
            .iter()
            .any(|o| matches!(o, Open::Html(name) if html::is_block(name)));
        if inline && block_inside {
            self.open.remove(at);
        } else {
            self.truncate(at);
        }
    }

    fn truncate(&mut self, len: usize) {
        let html_popped = self
            .open
            .get(len..)
            .unwrap_or_default()
            .iter()
            .filter(|o| matches!(o, Open::Html(_)))
            .count();
        self.html_open = self.html_open.saturating_sub(html_popped);
        self.open.truncate(len);
    }
}

/// The command lines of `body`, in order. GitHub's dollar math has no written spec, and
/// where it ends is read differently by different parsers (pulldown-cmark takes `$$x$` as
/// `$` and math, cmark-gfm's port comrak as text), so the comment is read with math and
/// without: a line runs only if both readings show it plainly, and a line either reading
/// shows counts as a command line (so nothing runs beside it).
pub(super) fn command_lines(body: &str) -> Vec<Line<'_>> {
    let with_math = lines_read(body, true);
    let without = lines_read(body, false);
    let mut all: Vec<Line<'_>> = Vec::with_capacity(with_math.len().max(without.len()));
    let (mut a, mut b) = (
        with_math.into_iter().peekable(),
        without.into_iter().peekable(),
    );
    loop {
        let line = match (a.peek().copied(), b.peek().copied()) {
            (None, None) => break,
            (Some(x), None) => {
                a.next();
                x.formatted()
            }
            (None, Some(y)) => {
                b.next();
                y.formatted()
            }
            (Some(x), Some(y)) => match x.start(body).cmp(&y.start(body)) {
                std::cmp::Ordering::Less => {
                    a.next();
                    x.formatted()
                }
                std::cmp::Ordering::Greater => {
                    b.next();
                    y.formatted()
                }
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                    if x == y { x } else { x.formatted() }
                }
            },
        };
        all.push(line);
    }
    all
}

impl<'a> Line<'a> {
    fn text(self) -> &'a str {
        match self {
            Line::Plain(text) | Line::Formatted(text) => text,
        }
    }

    /// Where the line starts in `body` (each is a slice of it).
    fn start(self, body: &str) -> usize {
        (self.text().as_ptr() as usize).saturating_sub(body.as_ptr() as usize)
    }

    fn formatted(self) -> Self {
        Line::Formatted(self.text())
    }
}

/// The command lines of `body` in one reading of it, in order.
fn lines_read(body: &str, math: bool) -> Vec<Line<'_>> {
    let mut nesting = Nesting::default();
    let mut html = Reader::new();
    // The top-level paragraph being read: its source and its pieces.
    let mut paragraph: Option<(Range<usize>, Vec<Piece>)> = None;
    let mut raw_html = RawHtmlAhead::default();
    // Raw HTML pulldown-cmark took for text hides the paragraph from here on.
    let mut hidden_from: Option<usize> = None;
    // Images open: an image's text is its `alt` attribute, where HTML is only text.
    let mut images = 0usize;
    let mut lines = Vec::new();
    for (event, range) in Parser::new_ext(body, github_options(math)).into_offset_iter() {
        let shown_plainly = nesting.open.len() == 1 && html.between_tags() && !nesting.overflowed;
        let plain = match &event {
            Event::Text(text) => shown_plainly && body.get(range.clone()) == Some(&**text),
            _ => false,
        };
        match event {
            // An HTML block wraps nothing in the page: only the HTML in it opens elements.
            Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => {}
            Event::Start(tag) => {
                let top_level = nesting.open.is_empty() && html.between_tags();
                if tag == Tag::Paragraph && top_level && !nesting.overflowed {
                    raw_html = RawHtmlAhead::default();
                    hidden_from = None;
                    paragraph = Some((range, Vec::new()));
                } else if let Some((_, pieces)) = &mut paragraph {
                    // An inline span (emphasis, a link …): none of it shows as typed.
                    pieces.push(Piece {
                        range,
                        plain: false,
                        ambiguous: false,
                    });
                }
                let inline = matches!(
                    tag,
                    Tag::Emphasis
                        | Tag::Strong
                        | Tag::Strikethrough
                        | Tag::Superscript
                        | Tag::Subscript
                        | Tag::Link { .. }
                        | Tag::Image { .. }
                );
                if matches!(tag, Tag::Image { .. }) {
                    images += 1;
                }
                nesting.open.push(Open::Markdown { inline });
            }
            Event::End(end) => {
                if end == TagEnd::Image {
                    images = images.saturating_sub(1);
                }
                nesting.end_markdown();
                if end == TagEnd::Paragraph
                    && nesting.open.is_empty()
                    && let Some((source, pieces)) = paragraph.take()
                {
                    lines.extend(paragraph_lines(body, source, pieces));
                }
            }
            Event::Html(text) | Event::InlineHtml(text) => {
                // Raw HTML over lines may end sooner for a browser than for the parser (a
                // bogus comment such as `<?` or `<![CDATA[` ends at the first `>`): the
                // lines after that point are text on the page, so they count.
                let mut shown_from = None;
                let mut at = range.start;
                let html_text = if images == 0 { &*text } else { "" };
                for chunk in html_text.split_inclusive('\n') {
                    html.read(chunk, |token| nesting.token(token));
                    at += chunk.len();
                    let shown =
                        nesting.open.len() == 1 && html.between_tags() && !nesting.overflowed;
                    // From the line break, so the piece starts before the line it shows.
                    if shown_from.is_none() && chunk.ends_with('\n') && at < range.end && shown {
                        shown_from = Some(at - 1);
                    }
                }
                if let Some((_, pieces)) = &mut paragraph {
                    // Offsets are the source's only if the parser passed the HTML on as is.
                    let as_typed = body.get(range.clone()) == Some(&*text);
                    let shown_from = shown_from.filter(|_| as_typed);
                    pieces.push(Piece {
                        range: range.start..shown_from.unwrap_or(range.end),
                        plain: false,
                        ambiguous: false,
                    });
                    if let Some(from) = shown_from {
                        pieces.push(Piece {
                            range: from..range.end,
                            plain: false,
                            ambiguous: true,
                        });
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => {}
            _ => {
                if let Some((source, pieces)) = &mut paragraph {
                    if matches!(event, Event::Text(_)) && hidden_from.is_none() {
                        let text = body.get(range.clone()).unwrap_or_default();
                        hidden_from = text
                            .match_indices('<')
                            .map(|(i, _)| range.start + i)
                            .find(|at| raw_html.end(body, *at, source.end).is_some());
                        if let Some(from) = hidden_from {
                            pieces.push(Piece {
                                range: from..source.end,
                                plain: false,
                                ambiguous: true,
                            });
                        }
                    }
                    pieces.push(Piece {
                        range,
                        plain,
                        ambiguous: false,
                    });
                }
            }
        }
    }
    lines
}

/// The command lines of one top-level paragraph, from its source and pieces.
fn paragraph_lines(body: &str, source: Range<usize>, mut pieces: Vec<Piece>) -> Vec<Line<'_>> {
    pieces.sort_by_key(|p| p.range.start);
    let mut out = Vec::new();
    // Pieces before `next` start before the line being looked at; `hidden_to` is how far
    // the formatted ones among them reach (a code span or link from an earlier line), and
    // `ambiguous_to` how far the ambiguous ones do.
    let mut next = 0;
    let mut hidden_to = 0;
    let mut ambiguous_to = 0;
    let mut start = source.start;
    while let Some(rest) = body.get(start..source.end) {
        if rest.is_empty() {
            break;
        }
        let len = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = rest.get(..len).unwrap_or_default();
        let indent = line.bytes().take(3).take_while(|b| *b == b' ').count();
        let content = line
            .get(indent..)
            .unwrap_or_default()
            .trim_end_matches([' ', '\t']);
        let content_start = start + indent;
        let content_end = content_start + content.len();
        start += len + 1;
        let Some(prefix) = prefix_len(content) else {
            continue;
        };
        // GitHub makes a line followed by a delimiter row (`| - |`, `:-:`) a table's header
        // even with no `|` in it; pulldown-cmark wants one.
        let next_line = rest.get(len..).unwrap_or_default();
        let next_line = next_line
            .strip_prefix("\r\n")
            .or_else(|| next_line.strip_prefix(['\n', '\r']))
            .unwrap_or_default();
        let next_line = next_line
            .get(..next_line.find(['\n', '\r']).unwrap_or(next_line.len()))
            .unwrap_or_default();
        if looks_like_delimiter_row(next_line) {
            continue;
        }
        while let Some(p) = pieces.get(next).filter(|p| p.range.start < content_start) {
            if p.ambiguous {
                ambiguous_to = ambiguous_to.max(p.range.end);
            } else if !p.plain {
                hidden_to = hidden_to.max(p.range.end);
            }
            next += 1;
        }
        if hidden_to > content_start {
            continue;
        }
        if ambiguous_to > content_start {
            out.push(Line::Formatted(content));
            continue;
        }
        // How far plain text runs unbroken from the line's start, and where the first
        // formatted piece on the line starts.
        let mut plain_to = content_start;
        let mut formatted_from = content_end;
        for p in pieces
            .get(next..)
            .unwrap_or_default()
            .iter()
            .take_while(|p| p.range.start < content_end)
        {
            if !p.plain {
                formatted_from = formatted_from.min(p.range.start);
            } else if p.range.start == plain_to {
                plain_to = p.range.end;
            }
        }
        let plain_upto = plain_to.min(formatted_from);
        if plain_upto >= content_end {
            out.push(Line::Plain(content));
        } else if plain_upto >= content_start + prefix {
            out.push(Line::Formatted(content));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_a_whole_word_in_any_case() {
        assert_eq!(prefix_len("/keyroll"), Some(8));
        assert_eq!(prefix_len("/KeyRoll hold"), Some(9));
        assert_eq!(prefix_len("/keyroll\u{a0}hold"), Some(10));
        assert_eq!(prefix_len("/keyrollhold"), None);
        assert_eq!(prefix_len("/keyrol"), None);
        assert_eq!(prefix_len("/keyroll-bot"), None);
    }

    #[test]
    fn plain_formatted_and_hidden_lines() {
        assert_eq!(
            command_lines("a\n/keyroll hold\n\n  /keyroll status  \nb"),
            [Line::Plain("/keyroll hold"), Line::Plain("/keyroll status")]
        );
        assert_eq!(
            command_lines("/keyroll confirm g -- ran `make`"),
            [Line::Formatted("/keyroll confirm g -- ran `make`")]
        );
        for hidden in [
            "`a\n/keyroll hold`",
            "*a\n/keyroll hold*",
            "\\/keyroll hold",
            "&#47;keyroll hold",
            "<span>\n/keyroll hold</span>",
            "<details>\n\n/keyroll hold\n\n</details>",
            "> a\n/keyroll hold",
            "/keyroll hold\n---",
            "- [ ] \n/keyroll hold",
            "/keyroll hold\n| - |",
            "/keyroll hold\n:-:",
            "a <![CDATA[``\n/keyroll hold\n]]>",
        ] {
            assert_eq!(command_lines(hidden), [], "{hidden:?}");
        }
        // A close tag ends what it opened, and the end of a paragraph ends its HTML.
        assert_eq!(
            command_lines("<details>\n\nx\n\n</details>\n\n/keyroll hold"),
            [Line::Plain("/keyroll hold")]
        );
        assert_eq!(
            command_lines("a <span>b\n\n/keyroll hold"),
            [Line::Plain("/keyroll hold")]
        );
    }

    #[test]
    fn lines_parsers_read_differently_count_but_never_run() {
        // In math for pulldown-cmark, text for cmark-gfm: counted, so the plain command
        // beside it does not run either.
        assert_eq!(
            command_lines("$a\n/keyroll hold$"),
            [Line::Formatted("/keyroll hold$")]
        );
        assert_eq!(
            command_lines("/keyroll status\n\n$a\n/keyroll hold$").len(),
            2
        );
        // Raw HTML over lines that a browser ends at the first `>` (a bogus comment): the
        // lines after it are text on the page.
        assert_eq!(
            command_lines("a <?x>\n/keyroll hold\n?>"),
            [Line::Formatted("/keyroll hold")]
        );
        // CDATA that pulldown-cmark reads as text (a code span's backticks inside), raw HTML
        // for cmark-gfm up to `]]>`, and a bogus comment up to the first `>` for a browser.
        assert_eq!(
            command_lines("**<![CDATA[\n[*````]\n/keyroll hold\nb]]>"),
            [Line::Formatted("/keyroll hold")]
        );
    }

    #[test]
    fn block_elements_outlive_inline_spans_and_stray_close_tags() {
        // `</em>` does not close a `<pre>` opened inside the emphasis; `</span>` does not
        // close the `<details>` opened after the span.
        for hidden in [
            "*a <pre>*\n/keyroll hold",
            "a <span><details></span>\n/keyroll hold",
        ] {
            assert_eq!(command_lines(hidden), [], "{hidden:?}");
        }
        // HTML in an image's text is its `alt` attribute: it opens nothing.
        assert_eq!(
            command_lines("![<details>](x.png)\n/keyroll hold"),
            [Line::Plain("/keyroll hold")]
        );
    }
}
