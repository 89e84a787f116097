//! The raw HTML in a comment, read the way a browser reads it, as far as opening and closing
//! elements and hiding text goes: which elements open and close, and whether the reader is
//! inside a tag, a comment or a declaration (where any text that follows is hidden).
//!
//! Markdown hands raw HTML over in pieces (one per line of an HTML block, one per inline tag);
//! the state carries from piece to piece, as the browser sees them joined.

/// Elements with no content: they never stay open.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Tags GitHub escapes (GFM's tag filter): they show as text and open nothing.
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

/// Elements a browser does not close when an inline element around them ends (HTML's
/// "special" elements that may appear in a comment).
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "button",
    "caption",
    "center",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "li",
    "listing",
    "main",
    "marquee",
    "menu",
    "nav",
    "noscript",
    "object",
    "ol",
    "p",
    "pre",
    "section",
    "select",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// Whether `name` is an element a browser keeps open past the end of an inline element
/// around it.
pub(super) fn is_block(name: &str) -> bool {
    BLOCK.contains(&name)
}

/// The longest tag name kept; longer ones are cut (they still open and close alike).
const MAX_NAME: usize = 32;

/// What a piece of HTML did to the open elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Open(String),
    Close(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Between tags.
    Text,
    /// In `<!-- … -->`.
    Comment,
    /// In `<!…>` or `<?…>` (a declaration, CDATA or processing instruction: a browser reads
    /// each as a bogus comment up to the next `>`).
    Bogus,
    /// In a tag, after its name: attributes, maybe a quoted value.
    Tag {
        close: bool,
        name: String,
        quote: Option<u8>,
        last: u8,
    },
}

/// Reads raw HTML pieces in document order.
#[derive(Debug)]
pub(super) struct Reader {
    state: State,
}

impl Reader {
    pub(super) fn new() -> Self {
        Self { state: State::Text }
    }

    /// Whether the reader is between tags: text that follows would be shown (unless an open
    /// element hides it).
    pub(super) fn between_tags(&self) -> bool {
        self.state == State::Text
    }

    /// Reads `html`, telling `on` each element opened or closed.
    pub(super) fn read(&mut self, html: &str, mut on: impl FnMut(Token)) {
        let bytes = html.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match &mut self.state {
                State::Text => {
                    i += self.start_markup(bytes.get(i..).unwrap_or_default());
                }
                State::Comment => {
                    if bytes.get(i..).is_some_and(|r| r.starts_with(b"-->")) {
                        self.state = State::Text;
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                State::Bogus => {
                    if b == b'>' {
                        self.state = State::Text;
                    }
                    i += 1;
                }
                State::Tag {
                    close,
                    name,
                    quote,
                    last,
                } => {
                    let mut done = None;
                    match *quote {
                        Some(q) if b == q => *quote = None,
                        Some(_) => {}
                        None if b == b'"' || b == b'\'' => *quote = Some(b),
                        None if b == b'>' => {
                            done = Some((*close, std::mem::take(name), *last == b'/'));
                        }
                        None => {}
                    }
                    if !b.is_ascii_whitespace() {
                        *last = b;
                    }
                    i += 1;
                    if let Some((close, name, self_closing)) = done {
                        self.state = State::Text;
                        if let Some(token) = finished(close, name, self_closing) {
                            on(token);
                        }
                    }
                }
            }
        }
    }

    /// At `rest`, in text: starts a tag, comment or declaration if one starts here, and says
    /// how many bytes were read.
    fn start_markup(&mut self, rest: &[u8]) -> usize {
        match rest {
            [b'<', b'!', b'-', b'-', tail @ ..] => {
                // `<!-->` and `<!--->` are whole (empty) comments.
                if tail.starts_with(b">") {
                    5
                } else if tail.starts_with(b"->") {
                    6
                } else {
                    self.state = State::Comment;
                    4
                }
            }
            // `</>` is dropped; `</` and anything but a letter is a bogus comment.
            [b'<', b'/', b'>', ..] => 3,
            [b'<', b'/', second, ..] if !second.is_ascii_alphabetic() => {
                self.state = State::Bogus;
                2
            }
            [b'<', b'!' | b'?', ..] => {
                self.state = State::Bogus;
                2
            }
            [b'<', b'/', first, ..] if first.is_ascii_alphabetic() => {
                let name = tag_name(rest.get(2..).unwrap_or_default());
                let read = 2 + name.len();
                self.start_tag(true, name);
                read
            }
            [b'<', first, ..] if first.is_ascii_alphabetic() => {
                let name = tag_name(rest.get(1..).unwrap_or_default());
                let read = 1 + name.len();
                self.start_tag(false, name);
                read
            }
            _ => 1,
        }
    }

    fn start_tag(&mut self, close: bool, name: &[u8]) {
        let name: String = name
            .iter()
            .take(MAX_NAME)
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect();
        self.state = State::Tag {
            close,
            name,
            quote: None,
            last: b'<',
        };
    }
}

/// The name at the start of `rest`: letters, digits and `-`.
fn tag_name(rest: &[u8]) -> &[u8] {
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    rest.get(..len).unwrap_or_default()
}

/// What a finished tag does: void, self-closing and filtered tags do nothing.
fn finished(close: bool, name: String, self_closing: bool) -> Option<Token> {
    if FILTERED.contains(&name.as_str()) {
        return None;
    }
    if close {
        return Some(Token::Close(name));
    }
    if self_closing || VOID.contains(&name.as_str()) {
        return None;
    }
    Some(Token::Open(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(pieces: &[&str]) -> (Vec<Token>, bool) {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for p in pieces {
            r.read(p, |t| out.push(t));
        }
        (out, r.between_tags())
    }

    #[test]
    fn opens_and_closes_across_pieces() {
        let (t, between) = tokens(&["<details><summary>x</summary>\n", "<DIV class=\"a>b\">\n"]);
        assert_eq!(
            t,
            [
                Token::Open("details".into()),
                Token::Open("summary".into()),
                Token::Close("summary".into()),
                Token::Open("div".into()),
            ]
        );
        assert!(between);
        let (t, between) = tokens(&["<span title=\"a\n", "b\">", "</span>"]);
        assert_eq!(t, [Token::Open("span".into()), Token::Close("span".into())]);
        assert!(between);
    }

    #[test]
    fn comments_declarations_and_unfinished_tags_hide_what_follows() {
        assert!(!tokens(&["<!--\n", "x\n"]).1);
        assert!(tokens(&["<!--\n", "-->"]).1);
        assert!(tokens(&["<!-->"]).1);
        assert!(tokens(&["<!--->"]).1);
        assert!(!tokens(&["<!DOCTYPE x\n"]).1);
        assert!(tokens(&["<?php x ?>"]).1);
        assert!(!tokens(&["<div class=\"x\n"]).1);
        assert_eq!(tokens(&["<!-- <div> -->"]).0, []);
    }

    #[test]
    fn void_self_closing_and_filtered_tags_open_nothing() {
        assert_eq!(
            tokens(&["<br><img src=x><x-y/><textarea>a < b</textarea>"]).0,
            []
        );
        assert_eq!(tokens(&["a < b <3 </> </ x>"]), (vec![], true));
    }
}
