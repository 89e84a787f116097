//! Checks a parsed config against [`super::limits`]: every count and length a person wrote,
//! each refusal naming its field. Runs before the rest of resolution, which compares slots
//! and steps pairwise and so must only ever see bounded lists.

use std::fmt::Display;

use super::Problem;
use super::limits::*;
use super::locate::{FieldPath, Locator};
use super::model::{
    ApprovalsSpec, ConfigFile, CredentialSpec, GeneratorSpec, LocationSpec, PathStep,
    RolloutStepSpec, ValueFormat,
};

/// Every limit the config is over; empty when it is within all of them.
pub(super) fn check(raw: &ConfigFile, loc: &Locator<'_>) -> Vec<Problem> {
    let mut c = Checker {
        loc,
        problems: Vec::new(),
    };
    let root = FieldPath::root();
    let d = root.key("defaults");
    c.people(&d.key("reviewers"), &raw.defaults.reviewers);
    c.list(&d.key("labels"), &raw.defaults.labels, MAX_LABELS, "labels");
    for (i, l) in raw.defaults.labels.iter().enumerate() {
        c.text(&d.key("labels").index(i), l, MAX_SHORT_TEXT_BYTES);
    }
    if let Some(a) = &raw.defaults.approvals {
        c.approvals(&d.key("approvals"), a);
    }
    let creds = root.key("credentials");
    if c.list(&creds, &raw.credentials, MAX_CREDENTIALS, "credentials") {
        for (name, spec) in &raw.credentials {
            let f = creds.key(name);
            c.text(&f, name, MAX_NAME_BYTES);
            c.credential(&f, spec);
        }
    }
    c.problems
}

struct Checker<'a, 'b> {
    loc: &'a Locator<'b>,
    problems: Vec<Problem>,
}

impl Checker<'_, '_> {
    fn over(&mut self, field: &FieldPath, message: String) {
        self.problems.push(self.loc.problem(field, message));
    }

    /// A list (or map) of at most `max` entries; false (after saying so) when longer.
    fn list<T>(
        &mut self,
        field: &FieldPath,
        items: impl IntoIterator<Item = T, IntoIter: ExactSizeIterator>,
        max: usize,
        what: &str,
    ) -> bool {
        let n = items.into_iter().len();
        if n > max {
            self.over(
                field,
                format!("{n} {what}; keyroll allows at most {max} here"),
            );
            return false;
        }
        true
    }

    /// A text of at most `max` bytes.
    fn text(&mut self, field: &FieldPath, text: &str, max: usize) {
        if text.len() > max {
            self.over(
                field,
                format!(
                    "{} bytes long; keyroll allows at most {max} here",
                    text.len()
                ),
            );
        }
    }

    fn most<N: PartialOrd + Display>(&mut self, field: &FieldPath, n: N, max: N) {
        if n > max {
            self.over(field, format!("{n} is over the limit of {max}"));
        }
    }

    fn people(&mut self, field: &FieldPath, people: &[String]) {
        if self.list(field, people, MAX_PEOPLE, "entries") {
            for (i, p) in people.iter().enumerate() {
                self.text(&field.index(i), p, MAX_SHORT_TEXT_BYTES);
            }
        }
    }

    fn approvals(&mut self, field: &FieldPath, a: &ApprovalsSpec) {
        if let Some(n) = a.required {
            self.most(&field.key("required"), n, MAX_APPROVALS_REQUIRED);
        }
        if let Some(from) = &a.from {
            self.people(&field.key("from"), from);
        }
    }

    fn credential(&mut self, f: &FieldPath, spec: &CredentialSpec) {
        if let Some(e) = &spec.extends {
            self.text(&f.key("extends"), e, MAX_NAME_BYTES);
        }
        if let Some(d) = &spec.description {
            self.text(&f.key("description"), d, MAX_LONG_TEXT_BYTES);
        }
        if let Some(o) = &spec.owner {
            self.text(&f.key("owner"), o, MAX_SHORT_TEXT_BYTES);
        }
        if let Some(r) = &spec.reviewers {
            self.people(&f.key("reviewers"), r);
        }
        if let Some(slots) = &spec.slots
            && self.list(&f.key("slots"), slots, MAX_SLOTS, "slots")
        {
            for (i, s) in slots.iter().enumerate() {
                let sf = f.key("slots").index(i);
                self.text(&sf.key("name"), &s.name, MAX_NAME_BYTES);
                self.text(&sf.key("prefix"), &s.prefix, MAX_PREFIX_BYTES);
            }
        }
        if let Some(g) = &spec.generator {
            self.generator(&f.key("generator"), g);
        }
        if let Some(locations) = &spec.locations
            && self.list(&f.key("locations"), locations, MAX_LOCATIONS, "locations")
        {
            for (i, l) in locations.iter().enumerate() {
                self.location(&f.key("locations").index(i), l);
            }
        }
        if let Some(steps) = &spec.rollout
            && self.list(&f.key("rollout"), steps, MAX_ROLLOUT_STEPS, "rollout steps")
        {
            for (i, s) in steps.iter().enumerate() {
                self.step(&f.key("rollout").index(i), s);
            }
        }
        if let Some(a) = &spec.approvals {
            self.approvals(&f.key("approvals"), a);
        }
    }

    fn generator(&mut self, f: &FieldPath, g: &GeneratorSpec) {
        match g {
            GeneratorSpec::Random { length, .. } => {
                if !(MIN_RANDOM_LENGTH..=MAX_RANDOM_LENGTH).contains(length) {
                    self.over(
                        &f.key("length"),
                        format!(
                            "random values have {MIN_RANDOM_LENGTH} to {MAX_RANDOM_LENGTH} characters, not {length}"
                        ),
                    );
                }
            }
            GeneratorSpec::Dated {
                template,
                date_format,
            } => {
                self.text(&f.key("template"), template, MAX_SHORT_TEXT_BYTES);
                self.text(&f.key("date_format"), date_format, MAX_DATE_FORMAT_BYTES);
            }
            GeneratorSpec::Date { format } => {
                self.text(&f.key("format"), format, MAX_DATE_FORMAT_BYTES);
            }
            GeneratorSpec::Manual {
                instructions,
                names,
                date_format,
            } => {
                self.text(&f.key("instructions"), instructions, MAX_LONG_TEXT_BYTES);
                self.text(&f.key("date_format"), date_format, MAX_DATE_FORMAT_BYTES);
                if self.list(&f.key("names"), names, MAX_MANUAL_NAMES, "names") {
                    for (slot, name) in names {
                        let nf = f.key("names").key(slot);
                        self.text(&nf, slot, MAX_NAME_BYTES);
                        self.text(&nf, name, MAX_SHORT_TEXT_BYTES);
                    }
                }
            }
        }
    }

    fn location(&mut self, f: &FieldPath, l: &LocationSpec) {
        self.text(&f.key("file"), &l.file, MAX_SHORT_TEXT_BYTES);
        if let Some(path) = &l.path
            && self.list(&f.key("path"), path, MAX_PATH_STEPS, "path steps")
        {
            for (i, step) in path.iter().enumerate() {
                let pf = f.key("path").index(i);
                match step {
                    PathStep::Key(k) => self.text(&pf, k, MAX_PATH_KEY_BYTES),
                    PathStep::Index(n) => self.most(&pf, *n, MAX_PATH_INDEX),
                }
            }
        }
        if let Some(p) = &l.pattern {
            self.text(&f.key("pattern"), p, MAX_PATTERN_BYTES);
        }
        if let Some(s) = &l.slot {
            self.text(&f.key("slot"), s, MAX_NAME_BYTES);
        }
        if let ValueFormat::Delimited(sep) = &l.format {
            self.text(&f.key("format"), sep, MAX_SEPARATOR_BYTES);
        }
    }

    fn step(&mut self, f: &FieldPath, s: &RolloutStepSpec) {
        if let Some(w) = &s.wave {
            self.text(&f.key("wave"), w, MAX_NAME_BYTES);
        }
        if let Some(g) = &s.gate {
            self.text(&f.key("gate"), g, MAX_NAME_BYTES);
        }
        if self.list(&f.key("checks"), &s.checks, MAX_CHECKS_PER_WAVE, "checks") {
            for (i, c) in s.checks.iter().enumerate() {
                self.text(&f.key("checks").index(i), c, MAX_SHORT_TEXT_BYTES);
            }
        }
        self.people(&f.key("confirm"), &s.confirm);
        if let Some(i) = &s.instructions {
            self.text(&f.key("instructions"), i, MAX_LONG_TEXT_BYTES);
        }
    }
}
