//! From a comment to at most one command. A command is a line of its own, shown by GitHub
//! as plain text in a paragraph at the top of the comment, that starts with `/keyroll`
//! (see [`markdown`]). Two command lines in one comment run nothing.

mod html;
mod markdown;

use super::{Arg, Invocation, Reason, TABLE};
use markdown::{Line, PREFIX};

/// What a comment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No command line: an ordinary comment.
    Nothing,
    One(Invocation),
    /// A command line that is wrong, with what to tell the person (usage, suggestion).
    Invalid(String),
}

/// The longest comment GitHub takes, in characters; a longer body did not come from GitHub
/// and is not read.
const MAX_CHARS: usize = 65_536;

/// Whether `body` says `/keyroll` anywhere (any case): a comment that does not is not read
/// further.
fn mentions_keyroll(body: &str) -> bool {
    body.as_bytes()
        .windows(PREFIX.len())
        .any(|w| w.eq_ignore_ascii_case(PREFIX.as_bytes()))
}

/// The nearest known name to `word`, when it is close enough to be a typo.
fn suggest<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|n| (strsim::damerau_levenshtein(word, n), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn looks_like_rotation_id(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("R")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none()
}

fn looks_like_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The most characters of a person's word an answer repeats.
const SHOWN_CHARS: usize = 60;

/// A word as an answer repeats it: cut short when long (a comment may be 65,536 characters;
/// an answer quoting all of it would not fit in a reply), and without backticks, which
/// would end the code span it is shown in.
fn shown(word: &str) -> String {
    let mut out: String = word
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| if c == '`' { '\'' } else { c })
        .collect();
    if word.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// One command line to an invocation.
fn parse_line(line: &str) -> Result<Invocation, String> {
    let rest = line[PREFIX.len()..].trim();
    let (words, reason) = match rest.split_once(" -- ") {
        Some((w, r)) => (w, Some(r.trim())),
        None => match rest
            .strip_suffix(" --")
            .or_else(|| (rest == "--").then_some(""))
        {
            Some(w) => (w, Some("")),
            None => (rest, None),
        },
    };
    let reason = reason.filter(|r| !r.is_empty()).map(str::to_owned);
    let mut words = words.split_whitespace();
    let Some(verb) = words.next() else {
        return Err("`/keyroll` needs a command: try `/keyroll help`.".into());
    };
    let verb_lower = verb.to_ascii_lowercase();
    let Some(spec) = TABLE.iter().find(|s| s.name == verb_lower) else {
        let hint = suggest(&verb_lower, TABLE.iter().map(|s| s.name))
            .map(|n| format!(" Did you mean `{n}`?"))
            .unwrap_or_default();
        return Err(format!(
            "`{}` is not a keyroll command.{hint} `/keyroll help` lists them.",
            shown(verb)
        ));
    };
    let usage = || format!("Usage: `{}`", spec.usage);
    let mut arg = None;
    let mut emergency = false;
    for w in words {
        if let Some(flag) = w.strip_prefix("--") {
            if spec.name == "rotate" && flag == "emergency" {
                emergency = true;
                continue;
            }
            let hint = if spec.name == "rotate" {
                suggest(flag, ["emergency"].into_iter())
                    .map(|n| format!(" Did you mean `--{n}`?"))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            return Err(format!(
                "`{}` is not an option of `{}`.{hint} {}",
                shown(w),
                spec.name,
                usage()
            ));
        }
        if arg.is_some() || spec.arg == Arg::None {
            return Err(format!(
                "`{}` takes no `{}` here. {}",
                spec.name,
                shown(w),
                usage()
            ));
        }
        arg = Some(w.to_owned());
    }
    match (spec.arg, &arg) {
        (Arg::Credential | Arg::Gate | Arg::RotationId, None) => {
            return Err(format!("`{}` needs an argument. {}", spec.name, usage()));
        }
        (Arg::RotationId | Arg::OptionalRotationId, Some(id)) if !looks_like_rotation_id(id) => {
            return Err(format!(
                "`{}` is not a rotation id (like R-2026-0042). {}",
                shown(id),
                usage()
            ));
        }
        (Arg::Credential | Arg::OptionalCredential | Arg::Gate, Some(name))
            if !looks_like_name(name) =>
        {
            return Err(format!(
                "`{}` is not a name keyroll knows. {}",
                shown(name),
                usage()
            ));
        }
        _ => {}
    }
    let reason_needed = spec.reason == Reason::Required || emergency;
    if reason_needed && reason.is_none() {
        return Err(format!(
            "`{}` needs a reason after ` -- `, for the audit log. {}",
            if emergency {
                "rotate --emergency"
            } else {
                spec.name
            },
            usage()
        ));
    }
    if spec.reason == Reason::NotTaken && reason.is_some() {
        return Err(format!("`{}` takes no reason. {}", spec.name, usage()));
    }
    Ok(Invocation {
        verb: spec.verb,
        arg,
        emergency,
        reason,
    })
}

/// The command in a comment, if any.
pub fn parse(body: &str) -> Parsed {
    if !mentions_keyroll(body) {
        return Parsed::Nothing;
    }
    if body.len() > MAX_CHARS && body.chars().count() > MAX_CHARS {
        return Parsed::Invalid(
            "This comment is longer than GitHub's 65,536 characters; keyroll did not read it for a command."
                .into(),
        );
    }
    let lines = markdown::command_lines(body);
    match lines.as_slice() {
        [] => Parsed::Nothing,
        [Line::Plain(one)] => match parse_line(one) {
            Ok(inv) => Parsed::One(inv),
            Err(msg) => Parsed::Invalid(msg),
        },
        [Line::Formatted(_)] => Parsed::Invalid(
            "The `/keyroll` line has formatting after the command name or around it (code, emphasis, a link, HTML, math, an escape or an entity), so GitHub may not show it as typed; keyroll runs only a line of plain text. Post it again without the formatting.".into(),
        ),
        many => Parsed::Invalid(format!(
            "This comment has {} command lines; keyroll runs one command per comment, so it ran none. Post each in its own comment.",
            many.len()
        )),
    }
}
