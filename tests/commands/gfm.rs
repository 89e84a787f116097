//! Commands as GitHub shows them: a differential test of the command finder against two
//! views of GitHub-Flavored Markdown, on comments that embed a command in every GFM
//! construct:
//!
//! - the GFM parser's view: pulldown-cmark's events with the GFM options, read here on
//!   their own (a top-level paragraph's line of plain text, with no raw HTML element open);
//! - GitHub's view: comrak, a port of GitHub's cmark-gfm, rendering to HTML, read for the
//!   plain lines of `<p>` elements at the top of the document.
//!
//! Each case also knows whether GitHub shows its command as a plain line of a top-level
//! paragraph (the generator's word). keyroll running a command that any of the three says
//! is not shown plainly is a failure (a false positive); a command all three show plainly
//! that keyroll misses is a failure too (a false negative). Where pulldown-cmark itself
//! reads GFM differently from GitHub, the case is named in [`PULLDOWN_DIFFERS`] and the
//! test checks that it still differs (so the list cannot go stale).
//!
//! The deterministic cases run in the normal suite; `KEYROLL_FUZZ_CASES=n` runs n random
//! ones of each kind instead of the default (seed from `KEYROLL_FUZZ_SEED`).

#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;

use keyroll::commands::{Parsed, parse};
use pulldown_cmark::{Event, Tag, TagEnd};

// ---- GitHub's view: comrak's HTML, read for `<p>` lines at the top of the document ----

/// GitHub's comment rendering as comrak does it: the GFM extensions, dollar math, the tag
/// filter, raw HTML passed through (so what it opens can be seen), and source positions (to
/// tell which source lines a paragraph holds). Extended autolinks are off: they wrap text
/// in a link without changing it, and no generated command line holds a URL.
fn comrak_options() -> comrak::Options<'static> {
    let mut o = comrak::Options::default();
    o.extension.table = true;
    o.extension.strikethrough = true;
    o.extension.tasklist = true;
    o.extension.footnotes = true;
    o.extension.math_dollars = true;
    #[expect(
        deprecated,
        reason = "GitHub escapes the tags GFM's tag filter names; comrak 0.55 still has it"
    )]
    {
        o.extension.tagfilter = true;
    }
    o.extension.alerts = true;
    o.render.r#unsafe = true;
    o.render.sourcepos = true;
    o
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements an unrelated close tag cannot reach past (HTML's "special" elements, as far as
/// comrak writes them).
const BLOCKS: &[&str] = &[
    "p",
    "blockquote",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "section",
    "div",
    "details",
    "summary",
];

/// One line of a rendered top-level paragraph: its text, whether it is plain (no tag,
/// comment or entity on it, inside no element but the paragraph), and if not, the text
/// before the first thing that is not.
#[derive(Debug)]
struct Rendered {
    text: String,
    plain: bool,
    before: Option<String>,
}

impl Rendered {
    fn new(plain: bool) -> Self {
        Self {
            text: String::new(),
            plain,
            before: (!plain).then(String::new),
        }
    }

    /// Something not plain comes next on the line.
    fn format(&mut self) {
        if self.plain {
            self.plain = false;
            self.before = Some(self.text.clone());
        }
    }
}

/// A line a view shows starting with `/keyroll`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shows {
    /// Plain text, exactly as typed (less indentation and trailing space).
    Plain(String),
    /// Plain text as typed through `/keyroll` and the space after it; something else later.
    Formatted(String),
}

/// The length of `/keyroll` and the whitespace after it at the start of `text`.
fn prefix_len(text: &str) -> Option<usize> {
    let head = text.get(..8)?;
    if !head.eq_ignore_ascii_case("/keyroll") {
        return None;
    }
    match text[8..].chars().next() {
        None => Some(8),
        Some(c) if c.is_whitespace() => Some(8 + c.len_utf8()),
        Some(_) => None,
    }
}

/// What a view shows of a rendered line, given its paragraph's source lines.
fn classify(line: &Rendered, sources: &[&str]) -> Option<Shows> {
    let text = trimmed(&line.text);
    if line.plain && prefix_len(text).is_some() && sources.iter().any(|s| trimmed(s) == text) {
        return Some(Shows::Plain(text.to_owned()));
    }
    let shown = line.before.as_deref().unwrap_or(&line.text);
    let shown = &shown[shown.len() - shown.trim_start_matches(' ').len()..];
    let prefix = prefix_len(shown)?;
    // The shown text is as typed through the prefix, up to the formatting or to where an
    // escape or entity in the source shows as something else.
    let typed = |source: &&str| {
        let source = trimmed(source);
        let same = shown
            .char_indices()
            .zip(source.chars())
            .find(|((_, a), b)| a != b)
            .map_or(shown.len().min(source.len()), |((i, _), _)| i);
        same >= prefix && (same == shown.len() || source[same..].starts_with(['\\', '&']))
    };
    sources
        .iter()
        .any(typed)
        .then(|| Shows::Formatted(text.to_owned()))
}

/// The lines of a view that run as they are.
fn plain(view: &[Shows]) -> Vec<String> {
    view.iter()
        .filter_map(|l| match l {
            Shows::Plain(text) => Some(text.clone()),
            Shows::Formatted(_) => None,
        })
        .collect()
}

/// What keyroll should answer to a comment a view shows like this.
fn expected(view: &[Shows]) -> Parsed {
    match view {
        [] => Parsed::Nothing,
        [Shows::Plain(line)] => parse(line),
        [Shows::Formatted(_)] => parse("/keyroll hold `now`"),
        many => parse(&vec!["/keyroll hold"; many.len()].join("\n")),
    }
}

#[derive(Debug)]
struct Paragraph {
    first_line: usize,
    last_line: usize,
    lines: Vec<Rendered>,
}

impl Paragraph {
    fn line(&mut self) -> &mut Rendered {
        if self.lines.is_empty() {
            self.lines.push(Rendered::new(true));
        }
        self.lines.last_mut().unwrap()
    }
}

/// `data-sourcepos="3:1-4:15"` in a tag: its first and last line.
fn source_lines_of(tag: &str) -> Option<(usize, usize)> {
    let at = tag.find("data-sourcepos=\"")? + "data-sourcepos=\"".len();
    let value = &tag[at..at + tag[at..].find('"')?];
    let (from, to) = value.split_once('-')?;
    let line = |pos: &str| pos.split(':').next()?.parse().ok();
    Some((line(from)?, line(to)?))
}

/// The text a prefix of `html` escapes, and how long it is: comrak's own escapes only.
fn entity(html: &str) -> Option<(char, usize)> {
    for (name, c) in [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#39;", '\''),
    ] {
        if html.starts_with(name) {
            return Some((c, name.len()));
        }
    }
    None
}

/// The source's lines, split as CommonMark splits them (`\n`, `\r\n` or `\r`).
fn source_lines(body: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = body;
    loop {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                return lines;
            }
        }
    }
}

/// A source line as a command line is compared: up to 3 leading spaces and trailing spaces
/// and tabs left off.
fn trimmed(line: &str) -> &str {
    let indent = line.bytes().take(3).take_while(|b| *b == b' ').count();
    line[indent..].trim_end_matches([' ', '\t'])
}

/// The command lines the oracle sees: plain lines of `<p>` elements directly under the
/// document root, each exactly a line of the source that paragraph came from.
fn comrak_commands(body: &str) -> Vec<Shows> {
    let html = comrak::markdown_to_html(body, &comrak_options());
    let sources = source_lines(body);
    let mut stack: Vec<String> = Vec::new();
    let mut paragraph: Option<Paragraph> = None;
    let mut done: Vec<Paragraph> = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let starts_tag = |open: &str| {
            rest.strip_prefix(open)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| c.is_ascii_alphabetic())
        };
        if rest.starts_with("<!--") || rest.starts_with("<!") || rest.starts_with("<?") {
            // A comment or declaration: hides the rest when it never ends.
            let end = if let Some(body) = rest.strip_prefix("<!--") {
                if body.starts_with('>') {
                    Some(5)
                } else if body.starts_with("->") {
                    Some(6)
                } else {
                    body.find("-->").map(|e| 4 + e + 3)
                }
            } else {
                rest.find('>').map(|e| e + 1)
            };
            let Some(end) = end else { break };
            if let Some(p) = &mut paragraph {
                p.line().format();
            }
            i += end;
        } else if starts_tag("</") || starts_tag("<") {
            let close = rest.starts_with("</");
            // The tag's end: the first `>` outside a quoted attribute.
            let mut quote = None;
            let mut end = None;
            for (j, c) in rest.char_indices().skip(1) {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '>') => {
                        end = Some(j + 1);
                        break;
                    }
                    _ => {}
                }
            }
            let Some(end) = end else { break };
            let tag = &rest[..end];
            let name: String = tag[if close { 2 } else { 1 }..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase();
            i += end;
            if close {
                let Some(at) = stack.iter().rposition(|n| *n == name) else {
                    continue;
                };
                let blocked = !BLOCKS.contains(&name.as_str())
                    && stack[at + 1..].iter().any(|n| BLOCKS.contains(&n.as_str()));
                if blocked {
                    continue;
                }
                stack.truncate(at);
                if stack.is_empty() && name == "p" {
                    if let Some(p) = paragraph.take() {
                        done.push(p);
                    }
                } else if let Some(p) = &mut paragraph {
                    p.line().format();
                }
            } else {
                let self_closing = tag.ends_with("/>") || VOID.contains(&name.as_str());
                let line_break = name == "br" && html[i..].starts_with('\n');
                if name == "p" && stack.is_empty() && paragraph.is_none() {
                    let (first_line, last_line) = source_lines_of(tag).unwrap();
                    paragraph = Some(Paragraph {
                        first_line,
                        last_line,
                        lines: Vec::new(),
                    });
                } else if let Some(p) = &mut paragraph
                    && !line_break
                {
                    p.line().format();
                }
                if !self_closing {
                    stack.push(name);
                }
            }
        } else {
            let (c, len) = match entity(rest) {
                Some(e) => e,
                None => (
                    rest.chars().next().unwrap(),
                    rest.chars().next().unwrap().len_utf8(),
                ),
            };
            if let Some(p) = &mut paragraph {
                if c == '\n' {
                    p.lines.push(Rendered::new(true));
                } else {
                    let inside = stack.len();
                    let unknown_entity = c == '&';
                    let line = p.line();
                    if inside != 1 || unknown_entity {
                        line.format();
                    }
                    line.text.push(c);
                }
            }
            i += len;
        }
    }
    let mut commands = Vec::new();
    for p in done {
        let from = sources
            .get(p.first_line.saturating_sub(1)..p.last_line.min(sources.len()))
            .unwrap_or_default();
        commands.extend(p.lines.iter().filter_map(|line| classify(line, from)));
    }
    commands
}

// ---- the GFM parser's view: pulldown-cmark's events, read on their own ----

/// pulldown-cmark's GFM: tables, strikethrough, task lists, footnotes, alerts, and math as
/// GitHub writes it.
fn pulldown_options() -> pulldown_cmark::Options {
    use pulldown_cmark::Options as O;
    O::ENABLE_TABLES
        | O::ENABLE_STRIKETHROUGH
        | O::ENABLE_TASKLISTS
        | O::ENABLE_FOOTNOTES
        | O::ENABLE_MATH
        | O::ENABLE_GFM
}

/// Raw HTML met so far, as far as hiding text goes: the elements it left open (with the
/// Markdown depth each was opened at: a paragraph's or list item's end closes what was
/// opened inside it) and the tail of a comment, declaration or tag not finished yet.
#[derive(Debug, Default)]
struct RawHtml {
    open: Vec<(String, usize)>,
    unfinished: String,
}

impl RawHtml {
    fn hides(&self) -> bool {
        !self.open.is_empty() || !self.unfinished.is_empty()
    }

    fn read(&mut self, html: &str, depth: usize) {
        let mut text = std::mem::take(&mut self.unfinished);
        text.push_str(html);
        let mut rest = text.as_str();
        while let Some(at) = rest.find('<') {
            rest = &rest[at..];
            let end =
                |from: usize, mark: &str| rest[from..].find(mark).map(|e| from + e + mark.len());
            let after = rest[1..].chars().next();
            let (len, tag) = if rest.starts_with("<!-->") {
                (Some(5), None)
            } else if rest.starts_with("<!--->") {
                (Some(6), None)
            } else if rest.starts_with("<!--") {
                (end(4, "-->"), None)
            } else if rest.starts_with("<![CDATA[") {
                (end(9, "]]>"), None)
            } else if rest.starts_with("<?") {
                (end(2, "?>"), None)
            } else if rest.starts_with("<!") {
                (end(2, ">"), None)
            } else if after.is_some_and(|c| c.is_ascii_alphabetic())
                || (after == Some('/')
                    && rest[2..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic()))
            {
                (tag_end(rest), Some(rest))
            } else {
                rest = &rest[1..];
                continue;
            };
            let Some(len) = len else {
                self.unfinished = rest.to_owned();
                return;
            };
            if let Some(tag) = tag {
                self.tag(&tag[..len], depth);
            }
            rest = &rest[len..];
        }
    }

    fn tag(&mut self, tag: &str, depth: usize) {
        let close = tag.starts_with("</");
        let name: String = tag[if close { 2 } else { 1 }..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if FILTERED.contains(&name.as_str()) {
            return;
        }
        if close {
            if let Some(at) = self.open.iter().rposition(|(n, _)| *n == name) {
                self.open.truncate(at);
            }
        } else if !tag.ends_with("/>") && !VOID.contains(&name.as_str()) {
            self.open.push((name, depth));
        }
    }

    /// A Markdown block or span ended, leaving `depth` open: what was opened inside ends.
    fn end_markdown(&mut self, depth: usize) {
        self.open.retain(|(_, d)| *d <= depth);
    }
}

/// Tags GitHub's tag filter escapes: they show as text and open nothing.
const FILTERED: &[&str] = &[
    "title",
    "textarea",
    "style",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "script",
    "plaintext",
];

/// The length of the tag at the start of `rest`: up to the first `>` outside quotes.
fn tag_end(rest: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in rest.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The command lines in pulldown-cmark's view: lines of paragraphs directly under the
/// document whose shown text is exactly a line of the paragraph's source, made only of text
/// events (no code, link, emphasis, math, HTML, escape or entity on the line, no span
/// running over it) while no raw HTML element is open.
fn pulldown_commands(body: &str) -> Vec<Shows> {
    let mut lines: Vec<Rendered> = Vec::new();
    let mut paragraph: Option<std::ops::Range<usize>> = None;
    let mut depth = 0;
    let mut html = RawHtml::default();
    let mut commands = Vec::new();
    let parser = pulldown_cmark::Parser::new_ext(body, pulldown_options());
    for (event, range) in parser.into_offset_iter() {
        // Only text straight in a top-level paragraph, with no HTML around it, is plain.
        let plain_here = paragraph.is_some() && depth == 1 && !html.hides();
        let line = lines.last_mut().filter(|_| paragraph.is_some());
        match event {
            Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => {}
            Event::Start(tag) => {
                if tag == Tag::Paragraph && depth == 0 {
                    paragraph = Some(range);
                    lines = vec![Rendered::new(!html.hides())];
                } else if let Some(line) = line {
                    line.format();
                }
                depth += 1;
            }
            Event::End(end) => {
                depth -= 1;
                html.end_markdown(depth);
                if end == TagEnd::Paragraph
                    && depth == 0
                    && let Some(range) = paragraph.take()
                {
                    let sources = source_lines(&body[range]);
                    commands.extend(lines.iter().filter_map(|l| classify(l, &sources)));
                }
            }
            Event::Text(text) => {
                if let Some(line) = line {
                    if !plain_here {
                        line.format();
                    }
                    line.text.push_str(&text);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if paragraph.is_some() {
                    lines.push(Rendered::new(plain_here));
                }
            }
            Event::Html(text) | Event::InlineHtml(text) => {
                if let Some(line) = line {
                    line.format();
                }
                html.read(&text, depth);
            }
            _ => {
                if let Some(line) = line {
                    line.format();
                }
            }
        }
    }
    commands
}

// ---- the generator: a command in every GFM construct ----

/// A small deterministic random source (SplitMix64).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Commands to embed, state-changing verbs among them.
const COMMANDS: &[&str] = &[
    "/keyroll status",
    "/keyroll abort R-2026-0001 -- x",
    "/keyroll rollback R-2026-0001 -- broke prod",
    "/keyroll rotate x",
    "/keyroll rotate db-password --emergency -- leaked",
    "/keyroll confirm g",
    "/keyroll hold",
    "/KEYROLL retry",
    "/keyroll plan db-password",
];

/// Text around the construct: whole blocks, each closed, each ending in a plain paragraph
/// where a container would otherwise take in what follows.
const AROUND: &[&str] = &[
    "Thanks!",
    "Deployed to staging; see the logs.",
    "Some *emphasis*, **strong**, `code` and ~~struck~~ text.",
    "- a list\n- of things\n\nAfter the list.",
    "1. first\n2. second\n\nAfter the list.",
    "> a quote\n> more of it",
    "> [!NOTE]\n> an alert",
    "```rust\nfn main() {}\n```",
    "~~~\nplain\n~~~",
    "    indented code",
    "| a | b |\n| - | - |\n| 1 | 2 |",
    "# Heading",
    "Setext\n======",
    "***",
    "<div>x</div>",
    "<!-- note -->",
    "[link](https://example.com) and ![img](x.png)",
    "Footnote ref[^n].\n\n[^n]: the note\n\nAfter the note.",
    "- [ ] task\n- [x] done\n\nAfter the tasks.",
    "$x^2$ math",
    "a  \nhard break",
    "<details><summary>more</summary>\n\nhidden text\n\n</details>",
    "Ends with a backslash\\",
    "a < b > c & d",
];

/// What the generator knows of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// GitHub shows the command as a plain line of a top-level paragraph.
    Plainly,
    /// It does not: quoted, code, hidden, in a heading, list, table, link …
    Not,
}

use Shown::{Not, Plainly};

/// One construct: a comment template with `{C}` for the command line (`{c}`: the command
/// without its slash).
#[derive(Debug, Clone, Copy)]
struct Construct {
    name: &'static str,
    template: &'static str,
    shown: Shown,
}

const fn c(name: &'static str, template: &'static str, shown: Shown) -> Construct {
    Construct {
        name,
        template,
        shown,
    }
}

const CONSTRUCTS: &[Construct] = &[
    // Paragraphs.
    c("paragraph", "{C}", Plainly),
    c("paragraph, second line", "Please:\n{C}", Plainly),
    c("paragraph, first line", "{C}\nThanks.", Plainly),
    c("indented 1", " {C}", Plainly),
    c("indented 3", "   {C}", Plainly),
    c("indented 3, continuation", "Please:\n   {C}", Plainly),
    c("indented 4, continuation", "Please:\n    {C}", Not),
    c("trailing spaces, hard break", "{C}  \nthanks", Plainly),
    c("trailing tab", "{C}\t", Plainly),
    c("backslash hard break", "{C}\\\nthanks", Not),
    c("CRLF", "Please:\r\n{C}\r\nThanks.", Plainly),
    c("CR", "Please:\r{C}\rThanks.", Plainly),
    c("after emphasis closed", "*a* and **b**\n{C}", Plainly),
    c("after a code span closed", "`x`\n{C}", Plainly),
    c("after <!-- in a code span", "`<!--`\n\n{C}", Plainly),
    c(
        "after <!-- in a code span, same paragraph",
        "see `<!--`\n{C}",
        Plainly,
    ),
    c("after inline HTML closed", "a <span>b</span>\n{C}", Plainly),
    c("after an inline comment", "a <!-- c -->\n{C}", Plainly),
    c("after an inline void element", "a <br>\n{C}", Plainly),
    c("after inline math", "$x$\n{C}", Plainly),
    c(
        "after a footnote reference",
        "text[^1]\n{C}\n\n[^1]: note",
        Plainly,
    ),
    c(
        "after an escaped quote marker",
        "\\> not a quote\n{C}",
        Plainly,
    ),
    c(
        "after a link reference definition",
        "[a]: https://example.com\n{C}",
        Plainly,
    ),
    c("thematic break after", "{C}\n***", Plainly),
    c("thematic break before", "---\n{C}", Plainly),
    c("after a closed fence", "```\ncode\n```\n{C}", Plainly),
    c(
        "after a fence closed longer",
        "```sh\ncode\n`````\n{C}",
        Plainly,
    ),
    c(
        "after a closed tilde fence",
        "~~~\ncode\n~~~~\n{C}",
        Plainly,
    ),
    c("after an empty fence", "```\n```\n{C}", Plainly),
    c(
        "after a fence-like line with a backtick",
        "```a`b\n\n{C}",
        Plainly,
    ),
    c("after a code span of three", "```a```\n{C}", Plainly),
    c("after a quote and a blank", "> quote\n\n{C}", Plainly),
    c("after a heading", "# Title\n{C}", Plainly),
    c(
        "after a table and a blank",
        "| a |\n| - |\n| 1 |\n\n{C}",
        Plainly,
    ),
    c("after a list and a blank", "- item\n\n{C}", Plainly),
    c("after an HTML block closed", "<div>x</div>\n\n{C}", Plainly),
    c(
        "after details closed",
        "<details>\n<summary>s</summary>\n\nhidden\n\n</details>\n\n{C}",
        Plainly,
    ),
    c(
        "after a span opened in another paragraph",
        "a <span>b\n\n{C}",
        Plainly,
    ),
    c(
        "after a comment block closed",
        "<!--\nnote\n-->\n\n{C}",
        Plainly,
    ),
    c("after math block", "$$\nx\n$$\n\n{C}", Plainly),
    // Quotes.
    c("quote", "> {C}", Not),
    c("quote, no space", ">{C}", Not),
    c("quote, indented", "   > {C}", Not),
    c("quote, lazy continuation", "> quoted\n{C}", Not),
    c("nested quote, lazy", "> > quoted\n{C}", Not),
    c("quote, later line", "> a\n>\n> {C}", Not),
    c("alert quote", "> [!WARNING]\n> {C}", Not),
    // Fenced code.
    c("fence", "```\n{C}\n```", Not),
    c("tilde fence", "~~~\n{C}\n~~~", Not),
    c("fence with info", "```sh\n{C}\n```", Not),
    c("fence in a longer fence", "````\n```\n{C}\n```\n````", Not),
    c("tilde fence in a longer one", "~~~~\n~~~\n{C}\n~~~~", Not),
    c(
        "fence 'closed' by an info string",
        "```\nx\n```sh\n{C}\n```",
        Not,
    ),
    c("unclosed fence", "```\n{C}", Not),
    c("fence 'closed' by tildes", "~~~\n{C}\n```", Not),
    c("indented fence", "  ```\n{C}\n  ```", Not),
    c("fence closed by a longer one", "```\n{C}\n`````", Not),
    // Indented code.
    c("indented code", "    {C}", Not),
    c("tab-indented code", "\t{C}", Not),
    c("indented code after a paragraph", "text\n\n    {C}", Not),
    // Code spans.
    c("code span over lines", "`a\n{C}\nb`", Not),
    c("code span ending on the line", "see `x\n{C}`", Not),
    c("double code span over lines", "``\n{C}\n``", Not),
    c("code span of the line", "`{C}`", Not),
    // HTML blocks, CommonMark kinds 1-7.
    c("html 1 pre", "<pre>\n{C}\n</pre>", Not),
    c("html 1 script", "<script>\n{C}\n</script>", Not),
    c("html 1 style", "<style>\n{C}\n</style>", Not),
    c("html 1 textarea", "<textarea>\n{C}\n</textarea>", Not),
    c("html 2 comment", "<!--\n{C}\n-->", Not),
    c("html 2 comment unclosed", "<!-- a\n{C}", Not),
    c("html 2 comment, blank lines", "<!--\n\n{C}\n\n-->", Not),
    c("html 3 processing instruction", "<?php\n{C}\n?>", Not),
    c("html 4 declaration", "<!DOCTYPE html\n{C}\n>", Not),
    c("html 5 CDATA", "<![CDATA[\n{C}\n]]>", Not),
    c("html 6 details", "<details>\n{C}\n</details>", Not),
    c(
        "html 6 details with markdown",
        "<details><summary>s</summary>\n\n{C}\n\n</details>",
        Not,
    ),
    c("html 6 div unclosed", "<div>\n\n{C}", Not),
    c("html 6 table", "<table>\n{C}\n</table>", Not),
    c(
        "html 6 table cell",
        "<table><tr><td>\n\n{C}\n\n</td></tr></table>",
        Not,
    ),
    c("html 7 span", "<span>\n{C}", Not),
    c("html 7 custom element", "<x-note>\n{C}\n</x-note>", Not),
    c("html 7 void element", "<br>\n{C}", Not),
    // Inline HTML.
    c("inside an inline element", "a <span>\n{C}\n</span>", Not),
    c("inside inline bold", "a <b>\n{C}</b>", Not),
    c("multi-line alt", "<img alt=\"x\n{C}\n\">", Not),
    c("multi-line title", "a <span title=\"\n{C}\">b</span>", Not),
    c("inline comment over lines", "a <!--\n{C}\n-->", Not),
    // Headings.
    c("ATX heading", "# {C}", Not),
    c("ATX heading, closed", "## {C} ##", Not),
    c("setext heading ---", "{C}\n---", Not),
    c("setext heading ===", "{C}\n===", Not),
    c("setext heading, second line", "a\n{C}\n---", Not),
    // Tables.
    c("table row", "| a |\n| - |\n{C}", Not),
    c("table cell", "| a |\n| - |\n| {C} |", Not),
    c("table header", "{C} | b\n--- | ---", Not),
    // Lists.
    c("list item -", "- {C}", Not),
    c("list item *", "* {C}", Not),
    c("list item +", "+ {C}", Not),
    c("ordered item", "1. {C}", Not),
    c("ordered item )", "1) {C}", Not),
    c("task item", "- [ ] {C}", Not),
    c("list continuation", "- a\n  {C}", Not),
    c("list lazy continuation", "- a\n{C}", Not),
    c("list loose continuation", "- a\n\n  {C}", Not),
    // Links and images.
    c("link text", "[{C}](https://example.com)", Not),
    c("link text over lines", "[a\n{C}](https://example.com)", Not),
    c("image alt over lines", "![a\n{C}](x.png)", Not),
    c(
        "link title over lines",
        "[a](https://example.com \"t\n{C}\")",
        Not,
    ),
    // Footnotes.
    c("footnote", "x[^1]\n\n[^1]: {C}", Not),
    c("footnote continuation", "x[^1]\n\n[^1]: a\n    {C}", Not),
    c("footnote paragraph", "x[^1]\n\n[^1]: a\n\n    {C}", Not),
    // Emphasis and the like.
    c("emphasis over lines", "*a\n{C}*", Not),
    c("strong over lines", "**a\n{C}**", Not),
    c("underscore emphasis over lines", "_a\n{C}_", Not),
    c("strikethrough over lines", "~~a\n{C}~~", Not),
    c("emphasis of the line", "*{C}*", Not),
    // What GitHub shows but was not typed as shown.
    c("escaped slash", "\\{C}", Not),
    c("entity slash", "&#47;{c}", Not),
    // Math.
    c("math block", "$$\n{C}\n$$", Not),
    c("inline math over lines", "$a\n{C}$", Not),
    // Formatting after the command: keyroll answers, runs nothing.
    c("code after the command", "{C} `x`", Not),
    c("emphasis after the command", "{C} *now*", Not),
    c("HTML after the command", "{C} <b>x</b>", Not),
    c("escape after the command", "{C} \\*", Not),
];

/// Wrappers around a whole construct: inside any of them, no command shows plainly.
fn wrap(kind: usize, text: &str) -> (String, bool) {
    let indent = |first: &str, rest: &str| {
        let mut out = String::new();
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(if i == 0 { first } else { rest });
            out.push_str(line);
        }
        out
    };
    match kind {
        1 => (indent("> ", "> "), true),
        // The item's or note's text starts on the next line, so that the construct's own
        // indentation cannot change where the container's content starts.
        2 => (format!("-\n{}", indent("  ", "  ")), true),
        3 => (format!("x[^w]\n\n[^w]:\n{}", indent("    ", "    ")), true),
        4 => (
            format!("<details><summary>more</summary>\n\n{text}\n\n</details>"),
            true,
        ),
        5 => (format!("``````\n{text}\n``````"), true),
        _ => (text.to_owned(), false),
    }
}

/// A comment: the construct with `command`, maybe wrapped, between blocks of other text.
fn comment(rng: &mut Rng, construct: &Construct, command: &str, wrapper: usize) -> (String, Shown) {
    let text = construct
        .template
        .replace("{C}", command)
        .replace("{c}", &command[1..]);
    let (text, wrapped) = wrap(wrapper, &text);
    // Blocks around it, none twice (a footnote defined twice is an error of its own).
    let mut around: Vec<&str> = AROUND.to_vec();
    let mut take = |rng: &mut Rng| around.swap_remove(rng.below(around.len())).to_owned();
    let mut blocks: Vec<String> = Vec::new();
    for _ in 0..rng.below(3) {
        blocks.push(take(rng));
    }
    blocks.push(text);
    for _ in 0..rng.below(3) {
        blocks.push(take(rng));
    }
    let shown = if wrapped { Not } else { construct.shown };
    (blocks.join("\n\n"), shown)
}

/// Constructs where pulldown-cmark reads GFM differently from GitHub (cmark-gfm), so its
/// view disagrees with the generator and comrak; keyroll's finder follows GitHub there.
const PULLDOWN_DIFFERS: &[&str] = &[];

/// What the cases came to.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    ran: usize,
    /// keyroll ran a command the generator or a view says is not shown plainly.
    false_positives: Vec<String>,
    /// A command the generator and both views show plainly that keyroll did not run.
    false_negatives: Vec<String>,
    /// The generator and GitHub's view disagree (one of the two is wrong about GitHub).
    disagreements: Vec<String>,
    /// keyroll answered otherwise than GitHub's view says (running nothing either way).
    other_answers: Vec<String>,
    /// keyroll explained why a line did not run where GitHub's view shows no command line:
    /// a line in math, which GitHub's parsers read differently (see the finder).
    explained: Vec<String>,
    /// Constructs where pulldown-cmark's view differs from the generator.
    pulldown_differs: BTreeSet<&'static str>,
}

fn check(tally: &mut Tally, name: &'static str, body: &str, command: &str, shown: Shown) {
    tally.cases += 1;
    let github = comrak_commands(body);
    let pulldown = pulldown_commands(body);
    let plainly = |view: &[Shows]| {
        if view.contains(&Shows::Plain(command.to_owned())) {
            Plainly
        } else {
            Not
        }
    };
    let parsed = parse(body);
    let alone = parse(command);
    let ran = matches!(parsed, Parsed::One(_));
    let what = format!(
        "{name}: {body:?} (keyroll: {parsed:?}; GitHub: {github:?}; pulldown-cmark: {pulldown:?})"
    );
    if plainly(&github) != shown {
        tally.disagreements.push(what.clone());
    }
    let pulldown_agrees = plainly(&pulldown) == shown;
    if !pulldown_agrees {
        tally.pulldown_differs.insert(name);
    }
    let pulldown_counts = pulldown_agrees || !PULLDOWN_DIFFERS.contains(&name);
    let both_answer = |answer: &Parsed| {
        *answer == expected(&github) && (*answer == expected(&pulldown) || !pulldown_counts)
    };
    if ran {
        tally.ran += 1;
        if shown == Not || parsed != alone || !both_answer(&parsed) {
            tally.false_positives.push(what);
        }
    } else if shown == Plainly && matches!(alone, Parsed::One(_)) && both_answer(&alone) {
        tally.false_negatives.push(what);
    } else if parsed != expected(&github) {
        if github.is_empty() && parsed == expected(&[Shows::Formatted(String::new())]) {
            tally.explained.push(what);
        } else {
            tally.other_answers.push(what);
        }
    }
}

fn report(tally: &Tally) {
    println!(
        "{} cases, {} ran; {} false positives, {} false negatives, {} other answers, {} explained, {} generator/GitHub disagreements; pulldown-cmark differs on {:?}",
        tally.cases,
        tally.ran,
        tally.false_positives.len(),
        tally.false_negatives.len(),
        tally.other_answers.len(),
        tally.explained.len(),
        tally.disagreements.len(),
        tally.pulldown_differs,
    );
    for (label, list) in [
        ("false positive", &tally.false_positives),
        ("false negative", &tally.false_negatives),
        ("other answer", &tally.other_answers),
        ("disagreement", &tally.disagreements),
    ] {
        for what in list.iter().take(20) {
            println!("{label}: {what}");
        }
    }
}

fn assert_clean(tally: &Tally) {
    assert!(tally.false_positives.is_empty(), "false positives");
    assert!(tally.false_negatives.is_empty(), "false negatives");
    assert!(
        tally.other_answers.is_empty(),
        "answers other than GitHub's view says"
    );
    assert!(
        tally.disagreements.is_empty(),
        "generator and GitHub's view disagree"
    );
    let known: BTreeSet<&str> = PULLDOWN_DIFFERS.iter().copied().collect();
    assert!(
        tally.pulldown_differs.is_subset(&known),
        "pulldown-cmark's view differs on constructs not in PULLDOWN_DIFFERS"
    );
}

/// Cases for a random test: `default` unless KEYROLL_FUZZ_CASES says otherwise.
fn cases(default: usize) -> usize {
    std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn seed(default: u64) -> u64 {
    std::env::var("KEYROLL_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_construct_with_every_command_agrees_with_both_views() {
    let mut rng = Rng(0x6b65_7972_6f6c_6c21);
    let mut tally = Tally::default();
    for construct in CONSTRUCTS {
        for command in COMMANDS {
            let wrapper = rng.below(12);
            let (body, shown) = comment(&mut rng, construct, command, wrapper);
            check(&mut tally, construct.name, &body, command, shown);
        }
        // And alone, once, with nothing around it.
        let (body, shown) = comment(&mut Rng(0), construct, COMMANDS[1], 0);
        let body = body.trim().to_owned();
        check(&mut tally, construct.name, &body, COMMANDS[1], shown);
    }
    report(&tally);
    assert!(tally.cases >= 1000, "{} cases", tally.cases);
    assert!(tally.ran >= 200, "{} ran", tally.ran);
    assert_clean(&tally);
    // Every construct listed still differs, or the list is stale.
    let known: BTreeSet<&str> = PULLDOWN_DIFFERS.iter().copied().collect();
    assert_eq!(tally.pulldown_differs, known, "PULLDOWN_DIFFERS is stale");
}

#[test]
fn random_comments_agree_with_both_views() {
    let mut rng = Rng(seed(2026));
    let mut tally = Tally::default();
    for _ in 0..cases(300) {
        let construct = &CONSTRUCTS[rng.below(CONSTRUCTS.len())];
        let command = rng.pick(COMMANDS);
        let wrapper = rng.below(8);
        let (body, shown) = comment(&mut rng, construct, command, wrapper);
        check(&mut tally, construct.name, &body, command, shown);
    }
    report(&tally);
    assert_clean(&tally);
}

#[test]
fn both_views_see_plain_lines_and_hide_the_rest() {
    // The views themselves, on the plainest cases (so a broken view cannot pass everything).
    for view in [comrak_commands, pulldown_commands] {
        assert_eq!(plain(&view("/keyroll hold")), ["/keyroll hold"]);
        assert_eq!(
            plain(&view("a\n/keyroll hold\n\n/keyroll status")),
            ["/keyroll hold", "/keyroll status"]
        );
        assert!(matches!(
            view("/keyroll hold `now`").as_slice(),
            [Shows::Formatted(_)]
        ));
        for hidden in [
            "> /keyroll hold",
            "`/keyroll hold`",
            "\\/keyroll hold",
            "- /keyroll hold",
            "<div>\n\n/keyroll hold",
            "a <span>\n/keyroll hold",
        ] {
            assert_eq!(view(hidden), [], "{hidden:?}");
        }
    }
}

/// The cases issue 11 lists, each with a state-changing verb: none runs, and the commands
/// it says were missed run.
#[test]
fn the_cases_the_line_scanner_got_wrong() {
    for body in [
        "> quoted\n/keyroll abort R-2026-0001 -- lazy quote line",
        "Runbook:\n\n````\n```\n/keyroll abort R-2026-0001 -- step 3\n```\n````",
        "```\nx\n```sh\n/keyroll rollback R-2026-0001 -- not closed\n```",
        "see `x\n/keyroll rotate db-password`",
        "<pre>\n/keyroll confirm jenkins-config\n</pre>",
        "<details>\n\n/keyroll retry\n\n</details>",
        "<table><tr><td>\n\n/keyroll hold\n\n</td></tr></table>",
        "<img alt=\"x\n/keyroll abort R-2026-0001 -- alt\n\">",
        "a <span title=\"\n/keyroll abort R-2026-0001 -- title\">b</span>",
        "/keyroll rotate db-password\n---",
        "| a |\n| - |\n/keyroll rotate db-password",
        "- step\n  /keyroll confirm jenkins-config",
    ] {
        assert_eq!(parse(body), Parsed::Nothing, "{body:?}");
    }
    for body in [
        "`<!--`\n\n/keyroll retry",
        "see `<!--`\n/keyroll retry",
        "```a`b\n\n/keyroll retry",
    ] {
        assert!(matches!(parse(body), Parsed::One(_)), "{body:?}");
    }
}

// ---- soup: random Markdown-ish text, keyroll against both views ----

/// Pieces random comments are made of: every kind of markup that opens or closes something,
/// and command lines.
const SOUP: &[&str] = &[
    "\n",
    "\n",
    "\n\n",
    "\r\n",
    " ",
    "   ",
    "    ",
    "\t",
    "> ",
    ">",
    "- ",
    "* ",
    "1. ",
    "- [ ] ",
    "```",
    "````",
    "~~~",
    "```sh",
    "`",
    "``",
    "*",
    "**",
    "_",
    "~~",
    "[",
    "]",
    "](https://example.com)",
    "![",
    "[^1]",
    "[^1]: ",
    "<span>",
    "</span>",
    "<span title=\"",
    "\">",
    "<b>",
    "</b>",
    "<details>",
    "</details>",
    "<div>",
    "</div>",
    "<pre>",
    "</pre>",
    "<br>",
    "<!--",
    "-->",
    "<?",
    "?>",
    "<![CDATA[",
    "]]>",
    "|",
    "| - |",
    "---",
    "===",
    "***",
    "# ",
    "\\",
    "&#47;",
    "&amp;",
    "$",
    "$$",
    "text",
    "more words",
    "/keyroll hold",
    "/keyroll status",
    "/keyroll abort R-2026-0001 -- x",
    "\n/keyroll rotate x\n",
    "\n/keyroll confirm g\n",
];

#[test]
fn random_markdown_agrees_with_both_views() {
    let cases = cases(500);
    let mut rng = Rng(seed(47));
    let (mut ran, mut views_differ) = (0, 0);
    let (mut false_positives, mut false_negatives) = (Vec::new(), Vec::new());
    // keyroll answered otherwise than GitHub's view says, running nothing either way.
    let mut other_answers = Vec::new();
    for _ in 0..cases {
        let body: String = (0..rng.below(40)).map(|_| rng.pick(SOUP)).collect();
        let github = comrak_commands(&body);
        let pulldown = pulldown_commands(&body);
        let parsed = parse(&body);
        let what = format!(
            "{body:?} (keyroll: {parsed:?}; GitHub: {github:?}; pulldown-cmark: {pulldown:?})"
        );
        let answer = expected(&github);
        if answer != expected(&pulldown) {
            views_differ += 1;
        }
        if matches!(parsed, Parsed::One(_)) {
            ran += 1;
            if parsed != answer {
                false_positives.push(what);
            }
        } else if matches!(answer, Parsed::One(_)) && answer == expected(&pulldown) {
            false_negatives.push(what);
        } else if parsed != answer {
            other_answers.push(what);
        }
    }
    println!(
        "{cases} random comments, {ran} ran; {} false positives, {} false negatives, {} other answers; the views differ on {views_differ}",
        false_positives.len(),
        false_negatives.len(),
        other_answers.len()
    );
    for (label, list) in [
        ("false positive", &false_positives),
        ("false negative", &false_negatives),
        ("other answer", &other_answers),
    ] {
        for what in list.iter().take(15) {
            println!("{label}: {what}");
        }
    }
    // Random HTML soup is read differently by browsers and GFM parsers in more ways than a
    // command finder needs to follow: a miss or another refusal is counted, not failed;
    // running anything GitHub does not show as the one command line is a failure.
    assert!(false_positives.is_empty(), "false positives");
}
