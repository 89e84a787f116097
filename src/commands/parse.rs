//! From a comment to at most one command. A command counts only on a line of its own that
//! starts with `/keyroll`, outside fenced and indented code, `>` quotes and HTML comments
//! (inline code cannot start a line with `/`). Two command lines in one comment run nothing.

use super::{Arg, Invocation, Reason, TABLE};

/// What a comment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// No command line: an ordinary comment.
    Nothing,
    One(Invocation),
    /// A command line that is wrong, with what to tell the person (usage, suggestion).
    Invalid(String),
}

const PREFIX: &str = "/keyroll";

/// Removes `<!-- … -->`, even across lines (an unclosed one runs to the end).
fn without_html_comments(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start + 4..].find("-->") {
            Some(end) => rest = &rest[start + 4 + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// The lines of `body` that are commands.
fn command_lines(body: &str) -> Vec<String> {
    let text = without_html_comments(body);
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let indent: usize = line[..line.len() - trimmed.len()]
            .chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
            continue;
        }
        if indent < 4 {
            if trimmed.starts_with("```") {
                fence = Some("```");
                continue;
            }
            if trimmed.starts_with("~~~") {
                fence = Some("~~~");
                continue;
            }
        }
        if indent >= 4 || trimmed.starts_with('>') {
            continue;
        }
        let is_command = trimmed
            .get(..PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
            && trimmed[PREFIX.len()..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace);
        if is_command {
            lines.push(trimmed.trim_end().to_owned());
        }
    }
    lines
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
    let lines = command_lines(body);
    match lines.as_slice() {
        [] => Parsed::Nothing,
        [one] => match parse_line(one) {
            Ok(inv) => Parsed::One(inv),
            Err(msg) => Parsed::Invalid(msg),
        },
        many => Parsed::Invalid(format!(
            "This comment has {} command lines; keyroll runs one command per comment, so it ran none. Post each in its own comment.",
            many.len()
        )),
    }
}
