//! Commands as GitHub shows them: a differential test of the command parser against a second
//! GitHub-Flavored-Markdown implementation (comrak, rendering to HTML), on comments that embed
//! a command in every GFM construct.
//!
//! Each case knows whether GitHub shows its command as a plain line of a top-level paragraph
//! (the generator's word); the oracle says so independently from the rendered HTML. keyroll
//! running a command that either says is not shown plainly is a failure (a false positive);
//! a plain command keyroll misses is a false negative, counted and held at zero.
//!
//! The deterministic cases run in the normal suite; `KEYROLL_FUZZ_CASES=n` adds n random
//! ones (seed from `KEYROLL_FUZZ_SEED`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr
)]

use keyroll::commands::{Parsed, parse};

// ---- the oracle: comrak's HTML, read for `<p>` lines at the top of the document ----

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
    #[allow(deprecated)]
    {
        o.extension.tagfilter = true;
    }
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

/// One line of a rendered top-level paragraph: its text, and whether it is plain (no tag,
/// comment or entity on it, inside no element but the paragraph).
#[derive(Debug, Default)]
struct Rendered {
    text: String,
    plain: bool,
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
            self.lines.push(Rendered {
                text: String::new(),
                plain: true,
            });
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

fn says_keyroll(text: &str) -> bool {
    let Some(head) = text.get(..8) else {
        return false;
    };
    head.eq_ignore_ascii_case("/keyroll")
        && text[8..].chars().next().is_none_or(char::is_whitespace)
}

/// The command lines the oracle sees: plain lines of `<p>` elements directly under the
/// document root, each exactly a line of the source that paragraph came from.
fn oracle_commands(body: &str) -> Vec<String> {
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
                p.line().plain = false;
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
                    p.line().plain = false;
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
                } else if let Some(p) = &mut paragraph {
                    if !line_break {
                        p.line().plain = false;
                    }
                }
                if !self_closing {
                    stack.push(name);
                }
            }
        } else {
            let (c, len) = match entity(rest) {
                Some(e) => e,
                None => (rest.chars().next().unwrap(), rest.chars().next().unwrap().len_utf8()),
            };
            if let Some(p) = &mut paragraph {
                if c == '\n' {
                    p.lines.push(Rendered {
                        text: String::new(),
                        plain: true,
                    });
                } else {
                    let inside = stack.len();
                    let unknown_entity = c == '&';
                    let line = p.line();
                    line.text.push(c);
                    if inside != 1 || unknown_entity {
                        line.plain = false;
                    }
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
        for line in p.lines {
            let text = trimmed(&line.text);
            if line.plain && says_keyroll(text) && from.iter().any(|s| trimmed(s) == text) {
                commands.push(text.to_owned());
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
    c("after <!-- in a code span, same paragraph", "see `<!--`\n{C}", Plainly),
    c("after inline HTML closed", "a <span>b</span>\n{C}", Plainly),
    c("after an inline comment", "a <!-- c -->\n{C}", Plainly),
    c("after an inline void element", "a <br>\n{C}", Plainly),
    c("after inline math", "$x$\n{C}", Plainly),
    c("after a footnote reference", "text[^1]\n{C}\n\n[^1]: note", Plainly),
    c("after an escaped quote marker", "\\> not a quote\n{C}", Plainly),
    c("after a link reference definition", "[a]: https://example.com\n{C}", Plainly),
    c("thematic break after", "{C}\n***", Plainly),
    c("thematic break before", "---\n{C}", Plainly),
    c("after a closed fence", "```\ncode\n```\n{C}", Plainly),
    c("after a fence closed longer", "```sh\ncode\n`````\n{C}", Plainly),
    c("after a closed tilde fence", "~~~\ncode\n~~~~\n{C}", Plainly),
    c("after an empty fence", "```\n```\n{C}", Plainly),
    c("after a fence-like line with a backtick", "```a`b\n\n{C}", Plainly),
    c("after a code span of three", "```a```\n{C}", Plainly),
    c("after a quote and a blank", "> quote\n\n{C}", Plainly),
    c("after a heading", "# Title\n{C}", Plainly),
    c("after a table and a blank", "| a |\n| - |\n| 1 |\n\n{C}", Plainly),
    c("after a list and a blank", "- item\n\n{C}", Plainly),
    c("after an HTML block closed", "<div>x</div>\n\n{C}", Plainly),
    c(
        "after details closed",
        "<details>\n<summary>s</summary>\n\nhidden\n\n</details>\n\n{C}",
        Plainly,
    ),
    c("after a span opened in another paragraph", "a <span>b\n\n{C}", Plainly),
    c("after a comment block closed", "<!--\nnote\n-->\n\n{C}", Plainly),
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
    c("fence 'closed' by an info string", "```\nx\n```sh\n{C}\n```", Not),
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
    c("html 6 table cell", "<table><tr><td>\n\n{C}\n\n</td></tr></table>", Not),
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
    c("link title over lines", "[a](https://example.com \"t\n{C}\")", Not),
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

/// What one case came to.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    ran: usize,
    /// keyroll ran a command the generator or the oracle says is not shown plainly.
    false_positives: Vec<String>,
    /// A command both say is shown plainly that keyroll did not run.
    false_negatives: Vec<String>,
    /// The generator and the oracle disagree (one of the two is wrong about GitHub).
    disagreements: Vec<String>,
}

fn check(tally: &mut Tally, name: &str, body: &str, command: &str, shown: Shown) {
    tally.cases += 1;
    let oracle = oracle_commands(body);
    let oracle_shown = if oracle.iter().any(|l| l == command) {
        Plainly
    } else {
        Not
    };
    let parsed = parse(body);
    let alone = parse(command);
    let ran = matches!(parsed, Parsed::One(_));
    let what = format!("{name}: {body:?} (keyroll: {parsed:?}; oracle: {oracle:?})");
    if oracle_shown != shown {
        tally.disagreements.push(what.clone());
    }
    if ran {
        tally.ran += 1;
        if shown == Not || oracle_shown == Not || oracle.len() != 1 || parsed != alone {
            tally.false_positives.push(what);
        }
    } else if shown == Plainly && oracle_shown == Plainly && oracle.len() == 1 {
        tally.false_negatives.push(what);
    }
}

fn report(tally: &Tally) {
    println!(
        "{} cases, {} ran; {} false positives, {} false negatives, {} generator/oracle disagreements",
        tally.cases,
        tally.ran,
        tally.false_positives.len(),
        tally.false_negatives.len(),
        tally.disagreements.len()
    );
    for (label, list) in [
        ("false positive", &tally.false_positives),
        ("false negative", &tally.false_negatives),
        ("disagreement", &tally.disagreements),
    ] {
        for what in list.iter().take(20) {
            println!("{label}: {what}");
        }
    }
}

#[test]
fn every_construct_with_every_command_agrees_with_the_oracle() {
    let mut rng = Rng(0x6b65_7972_6f6c_6c21);
    let mut tally = Tally::default();
    for construct in CONSTRUCTS {
        for command in COMMANDS {
            let wrapper = rng.below(12);
            let (body, shown) = comment(&mut rng, construct, command, wrapper);
            check(&mut tally, construct.name, &body, command, shown);
        }
        // And plainly alone, once, with nothing around it.
        let (body, shown) = comment(&mut Rng(0), construct, COMMANDS[1], 0);
        let body = body.trim().to_owned();
        check(&mut tally, construct.name, &body, COMMANDS[1], shown);
    }
    report(&tally);
    assert!(tally.cases >= 1000, "{} cases", tally.cases);
    assert!(tally.ran >= 200, "{} ran", tally.ran);
    assert!(tally.false_positives.is_empty(), "false positives");
    assert!(tally.false_negatives.is_empty(), "false negatives");
    assert!(tally.disagreements.is_empty(), "generator and oracle disagree");
}

#[test]
fn random_comments_agree_with_the_oracle() {
    let cases: usize = std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("KEYROLL_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2026);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    for _ in 0..cases {
        let construct = &CONSTRUCTS[rng.below(CONSTRUCTS.len())];
        let command = rng.pick(COMMANDS);
        let wrapper = rng.below(8);
        let (body, shown) = comment(&mut rng, construct, command, wrapper);
        check(&mut tally, construct.name, &body, command, shown);
    }
    report(&tally);
    assert!(tally.false_positives.is_empty(), "false positives");
    assert!(tally.false_negatives.is_empty(), "false negatives");
    assert!(tally.disagreements.is_empty(), "generator and oracle disagree");
}

#[test]
fn the_oracle_sees_what_github_shows() {
    // The oracle itself, on the plainest cases (so a broken oracle cannot pass everything).
    assert_eq!(oracle_commands("/keyroll hold"), ["/keyroll hold"]);
    assert_eq!(
        oracle_commands("a\n/keyroll hold\n\n/keyroll status"),
        ["/keyroll hold", "/keyroll status"]
    );
    for hidden in ["> /keyroll hold", "`/keyroll hold`", "\\/keyroll hold", "- /keyroll hold"] {
        assert_eq!(oracle_commands(hidden), Vec::<String>::new(), "{hidden:?}");
    }
}

// ---- soup: random Markdown-ish text, keyroll against the oracle alone ----

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
fn random_markdown_agrees_with_the_oracle() {
    let cases: usize = std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let seed: u64 = std::env::var("KEYROLL_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(47);
    let mut rng = Rng(seed);
    let (mut ran, mut false_positives, mut false_negatives) = (0, Vec::new(), Vec::new());
    // keyroll ran a command the oracle shows, but the oracle shows another command line too.
    let mut one_of_several = Vec::new();
    for _ in 0..cases {
        let body: String = (0..rng.below(40)).map(|_| rng.pick(SOUP)).collect();
        let oracle = oracle_commands(&body);
        let parsed = parse(&body);
        let what = format!("{body:?} (keyroll: {parsed:?}; oracle: {oracle:?})");
        match (&parsed, oracle.as_slice()) {
            (Parsed::One(_), [one]) if parse(one) == parsed => ran += 1,
            (Parsed::One(_), several) if several.iter().any(|c| parse(c) == parsed) => {
                one_of_several.push(what);
            }
            (Parsed::One(_), _) => false_positives.push(what),
            (_, [one]) if matches!(parse(one), Parsed::One(_)) => false_negatives.push(what),
            _ => {}
        }
    }
    println!(
        "{cases} random comments, {ran} ran; {} false positives, {} false negatives, {} ran one of several",
        false_positives.len(),
        false_negatives.len(),
        one_of_several.len()
    );
    for what in false_positives
        .iter()
        .chain(&false_negatives)
        .chain(&one_of_several)
        .take(30)
    {
        println!("{what}");
    }
    assert!(false_positives.is_empty(), "false positives");
    assert!(false_negatives.is_empty(), "false negatives");
}
