//! Turns the parsed file into the model keyroll works with: presets merged, defaults applied,
//! and every rule that needs no repository checked (the repository checks are in
//! `validate.rs`). All problems are collected, not just the first.

use regex::{Regex, RegexBuilder};
use time::OffsetDateTime;

use super::duration::Span;
use super::locate::{FieldPath, Locator};
use super::model::{
    ConfigFile, CredentialSpec, GeneratorSpec, InsertAt, PathStep, Role, RolloutStepSpec,
    SwitchMode, ValueFormat,
};
use super::{Problem, Problems, presets};
use crate::commands::{self, Verb};
use crate::sops::TreePath;
use crate::sops::path::Segment;

#[derive(Debug, Clone)]
pub struct Config {
    pub credentials: Vec<Credential>,
    pub labels: Vec<String>,
    /// The top-level `roles:`, each at or above the server's floor for its verb.
    pub roles: Roles,
}

/// Per verb, the role a `/keyroll` command needs, as the config tightens it;
/// [`crate::commands::needed_role`] reads it.
pub type Roles = std::collections::BTreeMap<Verb, commands::Role>;

impl Config {
    pub fn credential(&self, name: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub name: String,
    pub preset: Option<String>,
    pub description: Option<String>,
    pub owner: String,
    pub reviewers: Vec<String>,
    pub max_age: Span,
    pub slots: Vec<Slot>,
    pub generator: GeneratorSpec,
    pub switch: SwitchMode,
    pub locations: Vec<Location>,
    pub rollout: Vec<Step>,
    /// Reviews its pull requests need before they may merge.
    pub approvals: Approvals,
    /// Whether keyroll merges its pull requests once approvals and the gate are met.
    pub automerge: bool,
    /// Its own `roles:`, each at or above the top level's and the server's floor.
    pub roles: Roles,
    /// Where the credential is written in the config, for problems found later.
    pub field: FieldPath,
}

/// Who must approve a credential's pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvals {
    pub required: u32,
    /// `@user` or `@org/team` entries whose approvals count.
    pub from: Vec<String>,
    pub requester_counts: bool,
}

impl Credential {
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// The slot a value belongs to, by its prefix (the longest matching prefix wins); a
    /// credential with one slot and no prefix owns every value.
    pub fn slot_of(&self, value: &[u8]) -> Option<&Slot> {
        self.slots
            .iter()
            .filter(|s| value.starts_with(s.prefix.as_bytes()))
            .max_by_key(|s| s.prefix.len())
    }

    /// When the credential is next due after a rotation at `last`: `last` plus its max
    /// age, or the calendar's last instant if that lies beyond it. Never panics, whatever
    /// date a repository's history holds.
    pub fn due_at(&self, last: OffsetDateTime) -> OffsetDateTime {
        last.saturating_add(self.max_age.0)
    }

    pub fn has_accept_locations(&self) -> bool {
        self.locations.iter().any(|l| l.role == Role::Accept)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub prefix: String,
}

#[derive(Debug, Clone)]
pub struct Location {
    pub file: String,
    pub target: Target,
    pub role: Role,
    pub slot: Option<String>,
    pub format: ValueFormat,
    pub insert: InsertAt,
    /// This location's field in the config.
    pub field: FieldPath,
}

#[derive(Debug, Clone)]
pub enum Target {
    /// A path inside a SOPS file.
    Sops(TreePath),
    /// A text pattern in a plain file; its `value` group is the value.
    Pattern(Regex),
}

impl Location {
    /// `vars/production.yaml:data_api.auth_tokens`, for people.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Sops(p) => {
                let steps: Vec<String> =
                    p.0.iter()
                        .map(|s| match s {
                            Segment::Key(k) => k.clone(),
                            Segment::Index(i) => i.to_string(),
                        })
                        .collect();
                format!("{}:{}", self.file, steps.join("."))
            }
            Target::Pattern(_) => format!("{} (pattern)", self.file),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Wave {
        name: String,
        checks: Vec<String>,
        timeout: Span,
    },
    Gate {
        name: String,
        confirm: Vec<String>,
        instructions: String,
        timeout: Span,
    },
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Wave { name, .. } | Step::Gate { name, .. } => name,
        }
    }
}

pub(super) fn resolve(raw: ConfigFile, loc: &Locator<'_>) -> Result<Config, Problems> {
    // Limits first: the checks below compare list entries pairwise.
    let mut problems = super::bounds::check(&raw, loc);
    if !problems.is_empty() {
        problems.sort_by_key(|p| (p.line, p.column));
        return Err(Problems(problems));
    }
    let root = FieldPath::root();
    if raw.version != 1 {
        problems.push(loc.problem(
            &root.key("version"),
            format!("version {} is not supported; use 1", raw.version),
        ));
    }
    check_roles(&raw.roles, None, &root.key("roles"), loc, &mut problems);
    let mut credentials = Vec::new();
    for (name, spec) in &raw.credentials {
        let field = root.key("credentials").key(name);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            problems.push(loc.problem(
                &field,
                "credential names use lowercase letters, digits and `-` (they become branch names)",
            ));
            continue;
        }
        if let Some(c) = credential(name, spec, &raw, &field, loc, &mut problems) {
            credentials.push(c);
        }
    }
    if raw.credentials.is_empty() {
        problems.push(loc.problem(&root.key("credentials"), "no credentials are defined"));
    }
    if problems.is_empty() {
        Ok(Config {
            credentials,
            labels: raw.defaults.labels,
            roles: raw.roles,
        })
    } else {
        problems.sort_by_key(|p| (p.line, p.column));
        Err(Problems(problems))
    }
}

fn credential(
    name: &str,
    spec: &CredentialSpec,
    raw: &ConfigFile,
    field: &FieldPath,
    loc: &Locator<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Credential> {
    let before = problems.len();
    let preset = match &spec.extends {
        None => CredentialSpec::default(),
        Some(p) => match presets::load(p) {
            Some(Ok(preset)) => preset,
            Some(Err(e)) => {
                problems.push(loc.problem(&field.key("extends"), e));
                return None;
            }
            None => {
                problems.push(loc.problem(
                    &field.key("extends"),
                    format!(
                        "no preset named {p:?}; the presets are {}",
                        presets::names().join(", ")
                    ),
                ));
                return None;
            }
        },
    };
    let description: Option<String> = pick(&spec.description, &preset.description);
    let owner: Option<String> = pick(&spec.owner, &preset.owner);
    let reviewers: Option<Vec<String>> = pick(&spec.reviewers, &preset.reviewers);
    let max_age: Option<Span> = pick(&spec.max_age, &preset.max_age).or(raw.defaults.max_age);
    let slots = pick(&spec.slots, &preset.slots);
    let generator: Option<GeneratorSpec> = pick(&spec.generator, &preset.generator);
    let switch = pick(&spec.switch, &preset.switch).unwrap_or(SwitchMode::WithAdd);
    let locations = pick(&spec.locations, &preset.locations).unwrap_or_default();
    let rollout = pick(&spec.rollout, &preset.rollout).unwrap_or_default();
    let approvals =
        pick(&spec.approvals, &preset.approvals).or_else(|| raw.defaults.approvals.clone());
    let automerge = pick(&spec.automerge, &preset.automerge)
        .or(raw.defaults.automerge)
        .unwrap_or(false);
    let roles = pick(&spec.roles, &preset.roles).unwrap_or_default();
    check_roles(&roles, Some(&raw.roles), &field.key("roles"), loc, problems);

    let owner = owner.unwrap_or_else(|| {
        problems.push(loc.problem(
            field,
            "`owner` is missing: name the team that owns this credential",
        ));
        String::new()
    });
    let max_age = max_age.unwrap_or_else(|| {
        problems.push(loc.problem(
            field,
            "`max_age` is missing: set it here or under `defaults`",
        ));
        Span(time::Duration::days(90))
    });
    let Some(generator) = generator else {
        problems.push(loc.problem(
            field,
            "`generator` is missing (or `extends` a preset that has one)",
        ));
        return None;
    };

    let slots: Vec<Slot> = match slots {
        None => vec![Slot {
            name: "default".into(),
            prefix: String::new(),
        }],
        Some(list) => list
            .into_iter()
            .map(|s| Slot {
                name: s.name,
                prefix: s.prefix,
            })
            .collect(),
    };
    check_slots(&slots, &field.key("slots"), loc, problems);
    if let GeneratorSpec::Manual { names, .. } = &generator {
        for slot in names.keys() {
            if !slots.iter().any(|s| &s.name == slot) {
                problems.push(loc.problem(
                    &field.key("generator").key("names").key(slot),
                    format!("there is no slot {slot:?}"),
                ));
            }
        }
    }

    let mut resolved_locations = Vec::new();
    for (i, l) in locations.iter().enumerate() {
        let lf = field.key("locations").index(i);
        if let Some(r) = location(l, &slots, &lf, loc, problems) {
            resolved_locations.push(r);
        }
    }
    if locations.is_empty() {
        problems.push(loc.problem(field, "`locations` is missing: where do the values live?"));
    }
    let all_locations_valid = resolved_locations.len() == locations.len();
    for slot in slots.iter().filter(|_| all_locations_valid) {
        let used = resolved_locations.iter().any(|l| match &l.slot {
            Some(s) => s == &slot.name,
            None => l.role == Role::Accept || slots.len() == 1,
        });
        if !used {
            problems.push(loc.problem(
                &field.key("slots"),
                format!("slot {:?} is used by no location", slot.name),
            ));
        }
    }
    let rollout = steps(&rollout, &field.key("rollout"), loc, problems);

    if problems.len() > before {
        return None;
    }
    let approvals = Approvals {
        required: approvals.as_ref().and_then(|a| a.required).unwrap_or(1),
        from: approvals
            .as_ref()
            .and_then(|a| a.from.clone())
            .unwrap_or_else(|| vec![owner.clone()]),
        requester_counts: approvals
            .as_ref()
            .and_then(|a| a.requester_counts)
            .unwrap_or(false),
    };
    Some(Credential {
        name: name.to_owned(),
        preset: spec.extends.clone(),
        description,
        owner,
        reviewers: reviewers.unwrap_or_else(|| raw.defaults.reviewers.clone()),
        max_age,
        slots,
        generator,
        switch,
        locations: resolved_locations,
        rollout,
        approvals,
        automerge,
        roles,
        field: field.clone(),
    })
}

/// Refuses every role in `roles` that would loosen what applies without it: the server's
/// floor for the verb (the command table) and, for a credential's `roles`, the top level's.
fn check_roles(
    roles: &Roles,
    top: Option<&Roles>,
    field: &FieldPath,
    loc: &Locator<'_>,
    problems: &mut Vec<Problem>,
) {
    for (verb, role) in roles {
        let name = commands::spec(*verb).name;
        let floor = commands::spec(*verb).role;
        let written = format!("`roles.{name}: {role}`");
        let message = match top.and_then(|t| t.get(verb)) {
            Some(above) if role < above => format!(
                "{written} would loosen the top-level `roles.{name}` ({above}); a credential may only tighten it"
            ),
            _ if *role < floor => format!(
                "{written} would loosen the server's floor ({floor}); `.keyroll.yaml` may only tighten roles"
            ),
            _ => continue,
        };
        problems.push(loc.problem(&field.key(name), message));
    }
}

/// The credential's own field wins over the preset's.
fn pick<T: Clone>(own: &Option<T>, from_preset: &Option<T>) -> Option<T> {
    own.clone().or_else(|| from_preset.clone())
}

fn check_slots(slots: &[Slot], field: &FieldPath, loc: &Locator<'_>, problems: &mut Vec<Problem>) {
    for (i, a) in slots.iter().enumerate() {
        if a.name.is_empty() {
            problems.push(loc.problem(&field.index(i).key("name"), "a slot needs a name"));
        }
        for b in slots.iter().skip(i + 1) {
            if a.name == b.name {
                problems.push(loc.problem(
                    &field.index(i).key("name"),
                    format!("slot {:?} is defined twice", a.name),
                ));
            }
            if !a.prefix.is_empty()
                && (a.prefix.starts_with(&b.prefix) || b.prefix.starts_with(&a.prefix))
            {
                problems.push(loc.problem(
                    &field.index(i).key("prefix"),
                    format!(
                        "prefixes {:?} and {:?} overlap, so values could not be told apart",
                        a.prefix, b.prefix
                    ),
                ));
            }
        }
    }
    if slots.len() > 1 && slots.iter().any(|s| s.prefix.is_empty()) {
        problems.push(loc.problem(
            field,
            "with several slots every slot needs a prefix, which tells their values apart",
        ));
    }
}

fn location(
    spec: &super::model::LocationSpec,
    slots: &[Slot],
    field: &FieldPath,
    loc: &Locator<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Location> {
    let before = problems.len();
    let file = spec.file.trim();
    if file.is_empty() || file.starts_with('/') || file.split('/').any(|p| p == ".." || p == ".") {
        problems.push(loc.problem(
            &field.key("file"),
            "give a path relative to the repository root, without `..`",
        ));
    }
    let target = match (&spec.path, &spec.pattern) {
        (Some(path), None) if !path.is_empty() => Some(Target::Sops(TreePath(
            path.iter()
                .map(|s| match s {
                    PathStep::Key(k) => Segment::Key(k.clone()),
                    PathStep::Index(i) => Segment::Index(*i),
                })
                .collect(),
        ))),
        (None, Some(pattern)) => match RegexBuilder::new(pattern)
            .size_limit(super::limits::MAX_PATTERN_COMPILED_BYTES)
            .build()
        {
            Ok(re) if re.capture_names().any(|n| n == Some("value")) => Some(Target::Pattern(re)),
            Ok(_) => {
                problems.push(loc.problem(
                    &field.key("pattern"),
                    "the pattern needs a named group `(?P<value>...)` around the value",
                ));
                None
            }
            Err(e) => {
                let why = e.to_string();
                let why = why
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned();
                problems.push(loc.problem(
                    &field.key("pattern"),
                    format!("not a valid regular expression: {why}"),
                ));
                None
            }
        },
        (Some(_), Some(_)) => {
            problems.push(loc.problem(
                field,
                "set `path` (in a SOPS file) or `pattern` (in a plain file), not both",
            ));
            None
        }
        _ => {
            problems.push(loc.problem(
                field,
                "set `path` (keys inside a SOPS file) or `pattern` (in a plain file)",
            ));
            None
        }
    };
    if let Some(slot) = &spec.slot
        && !slots.iter().any(|s| &s.name == slot)
    {
        let known: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
        problems.push(loc.problem(
            &field.key("slot"),
            format!("there is no slot {slot:?} (slots: {})", known.join(", ")),
        ));
    }
    if spec.role == Role::Use {
        if spec.format != ValueFormat::Scalar {
            problems.push(loc.problem(
                &field.key("format"),
                "a use location holds one value: leave `format` as scalar",
            ));
        }
        if spec.slot.is_none() && slots.len() > 1 {
            problems.push(loc.problem(
                field,
                "a use location of a credential with several slots needs `slot`",
            ));
        }
    }
    if spec.role == Role::Accept && spec.format == ValueFormat::Scalar {
        problems.push(loc.problem(
            &field.key("format"),
            "an accept location holds several values: use `list` or `{ delimited: \",\" }`",
        ));
    }
    if let ValueFormat::Delimited(sep) = &spec.format
        && sep.is_empty()
    {
        problems.push(loc.problem(&field.key("format"), "the separator is empty"));
    }
    if spec.pattern.is_some() && spec.role == Role::Accept {
        problems.push(loc.problem(
            &field.key("role"),
            "a pattern location holds one value: its role is `use`",
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(Location {
        file: file.to_owned(),
        target: target?,
        role: spec.role,
        slot: spec.slot.clone(),
        format: spec.format.clone(),
        insert: spec.insert,
        field: field.clone(),
    })
}

fn steps(
    specs: &[RolloutStepSpec],
    field: &FieldPath,
    loc: &Locator<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let f = field.index(i);
        let step = match (&s.wave, &s.gate) {
            (Some(name), None) => {
                if s.checks.is_empty() {
                    problems.push(loc.problem(&f, format!("wave {name:?} names no `checks`")));
                }
                if !s.confirm.is_empty() || s.instructions.is_some() {
                    problems.push(loc.problem(
                        &f,
                        "`confirm` and `instructions` belong to gates, not waves",
                    ));
                }
                Step::Wave {
                    name: name.clone(),
                    checks: s.checks.clone(),
                    timeout: s.timeout.unwrap_or(Span(time::Duration::hours(2))),
                }
            }
            (None, Some(name)) => {
                if s.confirm.is_empty() {
                    problems.push(
                        loc.problem(&f, format!("gate {name:?} says nobody may `confirm` it")),
                    );
                }
                if !s.checks.is_empty() {
                    problems
                        .push(loc.problem(&f.key("checks"), "`checks` belong to waves, not gates"));
                }
                Step::Gate {
                    name: name.clone(),
                    confirm: s.confirm.clone(),
                    instructions: s.instructions.clone().unwrap_or_default(),
                    timeout: s.timeout.unwrap_or(Span(time::Duration::days(3))),
                }
            }
            _ => {
                problems.push(loc.problem(
                    &f,
                    "each rollout step is a `wave` (with checks) or a `gate` (with confirm)",
                ));
                continue;
            }
        };
        if out.iter().any(|o| o.name() == step.name()) {
            problems.push(loc.problem(&f, format!("step {:?} appears twice", step.name())));
        }
        out.push(step);
    }
    out
}
