//! The one spelling of the trailer that ties a commit to a rotation:
//!
//! ```text
//! Keyroll-Credential: data-api-tokens
//! Keyroll-Rotation: R-2026-0042
//! Keyroll-Phase: add
//! ```
//!
//! Written by every path that commits a change set (the App, `keyroll rotate`, the local
//! executor) and read by whatever asks "which credential did this commit rotate" (`status`
//! over git history, the schedule over the GitHub commit list). Like git's own trailers,
//! they count only in the message's last paragraph: a body that quotes a trailer does not
//! make a commit a rotation.

use std::fmt::Display;

const CREDENTIAL: &str = "Keyroll-Credential";
const ROTATION: &str = "Keyroll-Rotation";
const PHASE: &str = "Keyroll-Phase";

/// What a commit's trailer says. `rotation` and `phase` are absent when a hand-written
/// trailer left them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer<'a> {
    pub credential: &'a str,
    pub rotation: Option<&'a str>,
    pub phase: Option<&'a str>,
}

/// The trailer block, ending in a newline; the caller puts it after a blank line.
pub fn write(credential: &str, rotation: &str, phase: impl Display) -> String {
    format!("{CREDENTIAL}: {credential}\n{ROTATION}: {rotation}\n{PHASE}: {phase}\n")
}

/// The credentials a commit message names in any trailer-like paragraph (every line
/// `Key: value`), not only the last: a squash merge of keyroll's pull request puts its
/// trailers mid-message, with GitHub's `Co-authored-by:` after them. For telling keyroll's
/// commits apart from people's; [`parse`] stays strict for reading a rotation's history.
pub fn credentials_named(message: &str) -> Vec<&str> {
    let mut named = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in message.lines().chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            paragraph.push(line);
            continue;
        }
        let trailer_like = !paragraph.is_empty()
            && paragraph.iter().all(|l| {
                l.split_once(':')
                    .is_some_and(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace))
            });
        if trailer_like {
            for l in &paragraph {
                if let Some((CREDENTIAL, value)) = l.split_once(':').map(|(k, v)| (k, v.trim()))
                    && !value.is_empty()
                {
                    named.push(value);
                }
            }
        }
        paragraph.clear();
    }
    named
}

/// The keyroll trailer of a commit message, if its last paragraph has one.
pub fn parse(message: &str) -> Option<Trailer<'_>> {
    // The last paragraph: the lines after the last blank one (CRLF endings included).
    let mut last: Vec<&str> = message
        .lines()
        .rev()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    last.reverse();
    let mut credential = None;
    let mut rotation = None;
    let mut phase = None;
    for line in last {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.trim() {
            CREDENTIAL => credential = Some(value),
            ROTATION => rotation = Some(value),
            PHASE => phase = Some(value),
            _ => {}
        }
    }
    Some(Trailer {
        credential: credential?,
        rotation,
        phase,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let message = format!(
            "keyroll: db add (R-2026-0001)\n\n{}",
            write("db", "R-2026-0001", "add")
        );
        assert_eq!(
            parse(&message),
            Some(Trailer {
                credential: "db",
                rotation: Some("R-2026-0001"),
                phase: Some("add"),
            })
        );
    }

    #[test]
    fn only_the_last_paragraph_counts() {
        let quoted = "revert\n\nKeyroll-Credential: db\n\nSigned-off-by: someone";
        assert_eq!(parse(quoted), None);
        assert_eq!(parse("fix typo"), None);
        assert_eq!(parse("x\n\nKeyroll-Credential:   \n"), None);
    }

    #[test]
    fn crlf_and_other_trailers_are_tolerated() {
        let m = "t\r\n\r\nSigned-off-by: a\r\nKeyroll-Credential: db\r\n\r\n";
        assert_eq!(parse(m).map(|t| t.credential), Some("db"));
        let quoted = "t\r\n\r\nKeyroll-Credential: db\r\n\r\nSigned-off-by: a\r\n";
        assert_eq!(parse(quoted), None);
    }
}
