//! The plan of a phase whose new values a person supplies (manual credentials): keyroll
//! cannot compute the change before it has the values, so this plan shows where they go,
//! what each location holds now, and exactly what the person runs to put them there.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{shown, upcoming};
use crate::changeset::{Phase, Shown};
use crate::policy::{Credential, Location, Role, Target, ValueFormat};

/// Everything a manual plan shows.
#[derive(Debug)]
pub struct ManualPlan<'a> {
    pub credential: &'a Credential,
    pub rotation: &'a str,
    pub phase: Phase,
    /// The generator's instructions, as configured.
    pub instructions: &'a str,
    /// Per slot, the name its new value must start with (empty when not named).
    pub names: BTreeMap<String, String>,
    /// Each location's values now, in the order of the credential's locations.
    pub before: Vec<Vec<Shown>>,
}

impl ManualPlan<'_> {
    /// The plan for a terminal.
    pub fn render_text(&self) -> String {
        let c = self.credential;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · {} · rotation {}",
            c.name, self.phase, self.rotation
        );
        let _ = writeln!(
            out,
            "owner {} · max age {}{}",
            c.owner,
            c.max_age,
            c.preset
                .as_ref()
                .map(|p| format!(" · preset {p}"))
                .unwrap_or_default()
        );
        out.push_str(
            "\nA person supplies the new values; keyroll shows their fingerprints once it has them.\n",
        );
        out.push_str("\nChanges\n");
        for (i, l) in c.locations.iter().enumerate() {
            let _ = writeln!(out, "  {}  ({})", l.describe(), role(l));
            let before = self.before.get(i).map(Vec::as_slice).unwrap_or_default();
            let _ = writeln!(out, "      before  {}", shown(before));
            let _ = writeln!(out, "      after   {}", self.after(l));
        }
        out.push_str("\nFor a person\n");
        for line in self.instructions.trim().lines() {
            let _ = writeln!(out, "  {line}");
        }
        if !self.names.is_empty() {
            out.push_str("\n  Name the new values:\n");
            for (slot, name) in &self.names {
                let _ = writeln!(out, "  - slot {slot}: {name}…");
            }
        }
        let _ = write!(
            out,
            "\n  Either paste the new values as JSON into keyroll, which writes every location \
             and commits a branch:\n    {}\n    {}\n",
            self.rotate_command(),
            self.stdin_example()
        );
        out.push_str("\n  or write each location yourself, on a branch:\n");
        for l in &c.locations {
            let _ = writeln!(out, "    {}", by_hand(l, self.slot_of(l)));
        }
        super::push_still_to_come(&mut out, &upcoming(c, self.phase));
        out
    }

    /// The plan as Markdown: the text plan in a block, so its commands copy as they are.
    pub fn render_markdown(&self) -> String {
        format!(
            "### `{}`: {} (rotation `{}`)\n\n```text\n{}```\n",
            self.credential.name,
            self.phase,
            self.rotation,
            self.render_text()
        )
    }

    /// The slot a location holds: its own, or the credential's only one.
    fn slot_of<'l>(&'l self, l: &'l Location) -> Option<&'l str> {
        match (&l.slot, self.credential.slots.as_slice()) {
            (Some(s), _) => Some(s.as_str()),
            (None, [only]) => Some(only.name.as_str()),
            (None, _) => None,
        }
    }

    fn after(&self, l: &Location) -> String {
        let what = match self.slot_of(l) {
            Some(slot) => format!("the new value of slot {slot}"),
            None => "the new value of each slot".to_owned(),
        };
        match (l.role, self.phase) {
            (Role::Accept, Phase::Add) => format!("{what}, added; the old values stay"),
            (Role::Accept, _) => format!("{what}, in place of the old"),
            (Role::Use, _) => what,
        }
    }

    fn rotate_command(&self) -> String {
        format!(
            "keyroll rotate {} --phase {} --value-stdin",
            self.credential.name, self.phase
        )
    }

    /// What to paste on standard input: each slot's value, named as far as the config names it.
    fn stdin_example(&self) -> String {
        let entries: Vec<String> = self
            .credential
            .slots
            .iter()
            .map(|s| {
                let start = self.names.get(&s.name).unwrap_or(&s.prefix);
                format!("{:?}: \"{}…\"", s.name, start.escape_default())
            })
            .collect();
        format!("{{{}}}", entries.join(", "))
    }
}

fn role(l: &Location) -> String {
    match (l.role, &l.slot) {
        (Role::Accept, None) => "accept".into(),
        (Role::Accept, Some(s)) => format!("accept {s}"),
        (Role::Use, Some(s)) => format!("use {s}"),
        (Role::Use, None) => "use".into(),
    }
}

/// How a person writes one location without `keyroll rotate`.
fn by_hand(l: &Location, slot: Option<&str>) -> String {
    let value = match slot {
        Some(s) => format!("slot {s}'s new value"),
        None => "the new value".to_owned(),
    };
    match (&l.target, l.role, &l.format) {
        (Target::Sops(path), Role::Use, _) | (Target::Sops(path), _, ValueFormat::Scalar) => {
            format!(
                "keyroll sops set {} {} --value-stdin   ({value}, as a JSON string)",
                shell_word(&l.file),
                shell_word(&path.to_string())
            )
        }
        (Target::Sops(path), Role::Accept, ValueFormat::List) => format!(
            "keyroll sops set {} {} --value-stdin   (a JSON list: the values there now, then {value})",
            shell_word(&l.file),
            shell_word(&path.to_string())
        ),
        (Target::Sops(path), Role::Accept, ValueFormat::Delimited(sep)) => format!(
            "keyroll sops set {} {} --value-stdin   (a JSON string: the values there now and {value}, joined by {sep:?})",
            shell_word(&l.file),
            shell_word(&path.to_string())
        ),
        (Target::Pattern(_), _, _) => format!(
            "edit {} by hand: put {value} where the location's pattern finds the value",
            l.file
        ),
    }
}

/// A word the shell passes as it is.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("vars/production.yaml"), "vars/production.yaml");
        assert_eq!(shell_word(r#"["a"]"#), r#"'["a"]'"#);
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
