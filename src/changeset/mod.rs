//! What each phase of a rotation changes, as a function of the repository's files at the base
//! commit, the credential and its new values. Nothing here writes anywhere: the result is a
//! map from path to new content, plus a description of every location's before and after
//! (as fingerprints) for plans and pull request bodies.
//!
//! SOPS files are edited with the engine (one line per value); plain files by replacing the
//! pattern's `value` group.

pub mod branch;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use time::OffsetDateTime;

use crate::fingerprint::{self, Fingerprint, FingerprintKey};
use crate::generate::NewValues;
use crate::policy::limits::MAX_VALUES_PER_LOCATION;
use crate::policy::{Credential, InsertAt, Location, Role, SwitchMode, Target, ValueFormat};
use crate::repo::Files;
use crate::sops::{Format, Identities, NewValue, PlainValue, SopsError, SopsFile, TreePath};

pub use values::{join, split};

/// A phase of the lifecycle that changes files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Accept lists gain the new values; use locations switch too unless the credential
    /// switches separately.
    Add,
    /// Use locations move to the new values (credentials with `switch: separate`).
    Switch,
    /// Accept lists drop the values no client uses any more.
    Remove,
    /// The emergency path: old values out, new values in, in one change.
    Replace,
    /// The reverse of add: accept lists drop the new values, use locations go back.
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Add => "add",
            Phase::Switch => "switch",
            Phase::Remove => "remove",
            Phase::Replace => "replace",
            Phase::Rollback => "rollback",
        }
    }

    /// Whether the phase writes values the caller must supply (generated or manual).
    pub fn needs_new_values(self) -> bool {
        matches!(self, Phase::Add | Phase::Replace)
    }

    /// The phases a credential goes through, in order, for a normal rotation.
    pub fn sequence(cred: &Credential) -> Vec<Phase> {
        let mut out = vec![Phase::Add];
        if cred.switch == SwitchMode::Separate {
            out.push(Phase::Switch);
        }
        if cred.has_accept_locations() {
            out.push(Phase::Remove);
        }
        out
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value as people see it: its slot and fingerprint (`None` when the repository has no
/// fingerprint key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shown {
    pub slot: Option<String>,
    pub fingerprint: Option<Fingerprint>,
}

/// One location's values before and after the phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LocationChange {
    pub location: String,
    pub file: String,
    pub role: Role,
    pub slot: Option<String>,
    pub before: Vec<Shown>,
    pub after: Vec<Shown>,
    /// Whether the values differ, decided on the values themselves: without a fingerprint
    /// key every value is shown alike.
    pub values_changed: bool,
}

impl LocationChange {
    pub fn changed(&self) -> bool {
        self.values_changed
    }
}

/// What a phase changes.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub phase: Phase,
    /// Path to new content, for every file that changes.
    pub files: BTreeMap<String, String>,
    /// Every location of the credential, changed or not.
    pub locations: Vec<LocationChange>,
    /// The age recipients of each SOPS file the phase touches.
    pub recipients: BTreeMap<String, Vec<String>>,
    /// Whether values are shown as fingerprints (the repository has a fingerprint key).
    pub keyed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("{file}: {source}")]
    Sops {
        file: String,
        #[source]
        source: SopsError,
    },
    #[error("{0} does not exist at the base commit")]
    MissingFile(String),
    #[error("{location}: {message}")]
    Location { location: String, message: String },
    #[error("{phase} does not apply to {credential}: {why}")]
    NotApplicable {
        phase: Phase,
        credential: String,
        why: String,
    },
    #[error("{0} changes nothing: every location already holds what it would write")]
    NothingToChange(Phase),
    #[error("{0} holds keyroll's fingerprint key, which keyroll never rotates or shows")]
    FingerprintKeyFile(String),
}

/// What a change set is computed from.
#[derive(Clone, Copy)]
pub struct Base<'a> {
    pub files: &'a dyn Files,
    pub ids: &'a Identities,
    pub now: OffsetDateTime,
    /// The repository's fingerprint key, read from the same files (`None`: it has none, and
    /// values are shown without fingerprints).
    pub fingerprint_key: Option<&'a FingerprintKey>,
}

impl fmt::Debug for Base<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Base")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The values currently at each location of a credential, in the credential's order.
#[derive(Debug)]
pub struct Current {
    pub per_location: Vec<Vec<PlainValue>>,
}

impl Current {
    /// The value each slot's use location holds (the first use location of the slot).
    pub fn in_use(&self, cred: &Credential) -> BTreeMap<String, PlainValue> {
        let mut out = BTreeMap::new();
        for (loc, values) in cred.locations.iter().zip(&self.per_location) {
            if loc.role != Role::Use {
                continue;
            }
            let slot = loc
                .slot
                .clone()
                .or_else(|| cred.slots.first().map(|s| s.name.clone()));
            if let (Some(slot), Some(v)) = (slot, values.first()) {
                out.entry(slot).or_insert_with(|| v.clone());
            }
        }
        out
    }

    /// The newest value of `slot` in the accept lists (the last added, by each list's
    /// insert position).
    fn newest_accepted(&self, cred: &Credential, slot: &str) -> Option<PlainValue> {
        for (loc, values) in cred.locations.iter().zip(&self.per_location) {
            if loc.role != Role::Accept || loc.slot.as_deref().is_some_and(|s| s != slot) {
                continue;
            }
            let mut of_slot = values
                .iter()
                .filter(|v| cred.slot_of(v.expose()).is_some_and(|s| s.name == slot));
            let newest = match loc.insert {
                InsertAt::End => of_slot.next_back(),
                InsertAt::Start => of_slot.next(),
            };
            if let Some(v) = newest {
                return Some(v.clone());
            }
        }
        None
    }

    /// The second newest value of `slot` in the accept lists (what rollback returns to).
    fn previous_accepted(&self, cred: &Credential, slot: &str) -> Option<PlainValue> {
        for (loc, values) in cred.locations.iter().zip(&self.per_location) {
            if loc.role != Role::Accept || loc.slot.as_deref().is_some_and(|s| s != slot) {
                continue;
            }
            let of_slot: Vec<&PlainValue> = values
                .iter()
                .filter(|v| cred.slot_of(v.expose()).is_some_and(|s| s.name == slot))
                .collect();
            let previous = match loc.insert {
                InsertAt::End => of_slot.len().checked_sub(2).and_then(|i| of_slot.get(i)),
                InsertAt::Start => of_slot.get(1),
            };
            if let Some(v) = previous {
                return Some((*v).clone());
            }
        }
        None
    }
}

/// Reads the values at every location of `cred`.
pub fn read_current(cred: &Credential, base: Base<'_>) -> Result<Current, ChangeError> {
    let mut per_location = Vec::new();
    let mut cache: BTreeMap<&str, SopsFile> = BTreeMap::new();
    for loc in &cred.locations {
        if fingerprint::is_key_file(&loc.file) {
            return Err(ChangeError::FingerprintKeyFile(loc.file.clone()));
        }
        let text = read_text(base.files, &loc.file)?;
        let values = match &loc.target {
            Target::Sops(path) => {
                if !cache.contains_key(loc.file.as_str()) {
                    let file = parse_sops(&loc.file, text)?;
                    cache.insert(&loc.file, file);
                }
                let Some(file) = cache.get(loc.file.as_str()) else {
                    continue;
                };
                let opened = file.open(base.ids).map_err(|e| sops_err(&loc.file, e))?;
                let stored = opened
                    .values(path)
                    .map_err(|e| sops_err(&loc.file, e))?
                    .ok_or_else(|| {
                        location_err(loc, "the path is a map, not a value or a list of values")
                    })?;
                match &loc.format {
                    ValueFormat::Scalar | ValueFormat::List => {
                        stored.into_iter().cloned().collect()
                    }
                    ValueFormat::Delimited(sep) => match stored.first() {
                        Some(v) => split(v, sep),
                        None => Vec::new(),
                    },
                }
            }
            Target::Pattern(re) => {
                let caps = re
                    .captures(&text)
                    .ok_or_else(|| location_err(loc, "the pattern does not match the file"))?;
                let v = caps.name("value").map_or("", |m| m.as_str());
                vec![PlainValue::str(v)]
            }
        };
        if values.len() > MAX_VALUES_PER_LOCATION {
            return Err(location_err(
                loc,
                &format!(
                    "holds {} values; keyroll handles at most {MAX_VALUES_PER_LOCATION} at one location",
                    values.len()
                ),
            ));
        }
        per_location.push(values);
    }
    Ok(Current { per_location })
}

/// Each location's values now, as people see them: what a plan shows before a person has
/// supplied the new values.
pub fn shown_current(cred: &Credential, base: Base<'_>) -> Result<Vec<Vec<Shown>>, ChangeError> {
    let current = read_current(cred, base)?;
    Ok(current
        .per_location
        .iter()
        .map(|values| {
            values
                .iter()
                .map(|v| Shown {
                    slot: cred.slot_of(v.expose()).map(|s| s.name.clone()),
                    fingerprint: fingerprint::shown(v, base.fingerprint_key),
                })
                .collect()
        })
        .collect())
}

/// Computes the change set of `phase`. `new` holds the new value of every slot for the
/// phases that write new values (add, replace), and may name them for rollback.
pub fn build(
    phase: Phase,
    cred: &Credential,
    new: Option<&NewValues>,
    base: Base<'_>,
) -> Result<ChangeSet, ChangeError> {
    let not_applicable = |why: &str| ChangeError::NotApplicable {
        phase,
        credential: cred.name.clone(),
        why: why.to_owned(),
    };
    match phase {
        Phase::Switch if cred.switch != SwitchMode::Separate => {
            return Err(not_applicable(
                "its use locations switch in the add change (`switch: with-add`)",
            ));
        }
        Phase::Remove if !cred.has_accept_locations() => {
            return Err(not_applicable(
                "it has no accept locations to remove old values from",
            ));
        }
        _ => {}
    }
    let current = read_current(cred, base)?;
    let in_use = current.in_use(cred);

    // The value each slot moves to, and (for remove) the one each slot keeps.
    let mut target: BTreeMap<String, PlainValue> = BTreeMap::new();
    let mut previous: BTreeMap<String, PlainValue> = BTreeMap::new();
    for slot in &cred.slots {
        let name = slot.name.as_str();
        match phase {
            Phase::Add | Phase::Replace => {
                let v = new
                    .and_then(|n| n.get(name))
                    .ok_or_else(|| not_applicable(&format!("no new value for slot {name}")))?;
                target.insert(name.to_owned(), v.clone());
            }
            Phase::Switch => {
                let newest = current
                    .newest_accepted(cred, name)
                    .filter(|v| in_use.get(name) != Some(v))
                    .ok_or_else(|| not_applicable(&format!("no new value of slot {name} is waiting in the accept lists; run add first")))?;
                target.insert(name.to_owned(), newest);
            }
            Phase::Remove => {
                let keep = in_use
                    .get(name)
                    .cloned()
                    .or_else(|| current.newest_accepted(cred, name));
                if let Some(v) = keep {
                    target.insert(name.to_owned(), v);
                }
            }
            Phase::Rollback => {
                let added = new
                    .and_then(|n| n.get(name).cloned())
                    .or_else(|| current.newest_accepted(cred, name))
                    .ok_or_else(|| {
                        not_applicable(&format!("slot {name} has no added value to roll back"))
                    })?;
                let back = current.previous_accepted(cred, name).ok_or_else(|| {
                    not_applicable(&format!("slot {name} has no earlier value to return to"))
                })?;
                target.insert(name.to_owned(), added);
                previous.insert(name.to_owned(), back);
            }
        }
    }

    // Each location's values after the phase.
    let mut after_all = Vec::new();
    for (loc, before) in cred.locations.iter().zip(&current.per_location) {
        let covers = |slot: &str| loc.slot.as_deref().is_none_or(|s| s == slot);
        let owned_slot = |v: &PlainValue| {
            cred.slot_of(v.expose())
                .map(|s| s.name.clone())
                .filter(|s| covers(s))
        };
        let after: Vec<PlainValue> = match (loc.role, phase) {
            (Role::Accept, Phase::Add) => {
                let mut list = before.clone();
                let fresh: Vec<PlainValue> = cred
                    .slots
                    .iter()
                    .filter(|s| covers(&s.name))
                    .filter_map(|s| target.get(&s.name))
                    .filter(|v| !before.contains(v))
                    .cloned()
                    .collect();
                match loc.insert {
                    InsertAt::End => list.extend(fresh),
                    InsertAt::Start => {
                        let mut l = fresh;
                        l.extend(list);
                        list = l;
                    }
                }
                list
            }
            (Role::Accept, Phase::Switch) | (Role::Use, Phase::Remove) => before.clone(),
            (Role::Accept, Phase::Remove) => before
                .iter()
                .filter(|v| match owned_slot(v) {
                    None => true,
                    Some(slot) => target.get(&slot) == Some(*v),
                })
                .cloned()
                .collect(),
            (Role::Accept, Phase::Replace) => {
                let mut list: Vec<PlainValue> = before
                    .iter()
                    .filter(|v| owned_slot(v).is_none())
                    .cloned()
                    .collect();
                let fresh = cred
                    .slots
                    .iter()
                    .filter(|s| covers(&s.name))
                    .filter_map(|s| target.get(&s.name))
                    .cloned();
                match loc.insert {
                    InsertAt::End => list.extend(fresh),
                    InsertAt::Start => {
                        let mut l: Vec<PlainValue> = fresh.collect();
                        l.extend(list);
                        list = l;
                    }
                }
                list
            }
            (Role::Accept, Phase::Rollback) => before
                .iter()
                .filter(|v| owned_slot(v).is_none_or(|slot| target.get(&slot) != Some(*v)))
                .cloned()
                .collect(),
            (Role::Use, _) => {
                let slot = loc
                    .slot
                    .clone()
                    .or_else(|| cred.slots.first().map(|s| s.name.clone()))
                    .unwrap_or_default();
                let switch_now = match phase {
                    Phase::Add => cred.switch == SwitchMode::WithAdd,
                    Phase::Switch | Phase::Replace => true,
                    Phase::Rollback | Phase::Remove => false,
                };
                if switch_now {
                    target
                        .get(&slot)
                        .map(|v| vec![v.clone()])
                        .unwrap_or_else(|| before.clone())
                } else if phase == Phase::Rollback && before.first() == target.get(&slot) {
                    previous
                        .get(&slot)
                        .map(|v| vec![v.clone()])
                        .unwrap_or_else(|| before.clone())
                } else {
                    before.clone()
                }
            }
        };
        after_all.push(after);
    }

    write(phase, cred, &current, &after_all, base)
}

/// Writes each changed location and describes every location.
fn write(
    phase: Phase,
    cred: &Credential,
    current: &Current,
    after: &[Vec<PlainValue>],
    base: Base<'_>,
) -> Result<ChangeSet, ChangeError> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut recipients = BTreeMap::new();
    let mut locations = Vec::new();
    for ((loc, before), after) in cred.locations.iter().zip(&current.per_location).zip(after) {
        let shown = |vals: &[PlainValue]| -> Vec<Shown> {
            vals.iter()
                .map(|v| Shown {
                    slot: cred.slot_of(v.expose()).map(|s| s.name.clone()),
                    fingerprint: fingerprint::shown(v, base.fingerprint_key),
                })
                .collect()
        };
        locations.push(LocationChange {
            location: loc.describe(),
            file: loc.file.clone(),
            role: loc.role,
            slot: loc.slot.clone(),
            before: shown(before),
            after: shown(after),
            values_changed: before != after,
        });
        if before == after {
            continue;
        }
        let text = match files.remove(&loc.file) {
            Some(t) => t,
            None => read_text(base.files, &loc.file)?,
        };
        let new_text = match &loc.target {
            Target::Sops(path) => {
                let file = parse_sops(&loc.file, text)?;
                let opened = file.open(base.ids).map_err(|e| sops_err(&loc.file, e))?;
                recipients.insert(loc.file.clone(), opened.recipients());
                write_sops(&opened, loc, path, before, after, base.now)
                    .map_err(|e| sops_err(&loc.file, e))?
            }
            Target::Pattern(re) => {
                let caps = re
                    .captures(&text)
                    .ok_or_else(|| location_err(loc, "the pattern does not match the file"))?;
                let m = caps
                    .name("value")
                    .ok_or_else(|| location_err(loc, "the pattern has no `value` group"))?;
                let new = after.first().and_then(PlainValue::expose_str).unwrap_or("");
                let mut t = String::with_capacity(text.len());
                t.push_str(text.get(..m.start()).unwrap_or(""));
                t.push_str(new);
                t.push_str(text.get(m.end()..).unwrap_or(""));
                t
            }
        };
        files.insert(loc.file.clone(), new_text);
    }
    if files.is_empty() {
        return Err(ChangeError::NothingToChange(phase));
    }
    Ok(ChangeSet {
        phase,
        files,
        locations,
        recipients,
        keyed: base.fingerprint_key.is_some(),
    })
}

/// Writes `after` at a SOPS location, with as few changed lines as the format allows.
fn write_sops(
    opened: &crate::sops::OpenedFile<'_>,
    loc: &Location,
    path: &TreePath,
    before: &[PlainValue],
    after: &[PlainValue],
    now: OffsetDateTime,
) -> Result<String, SopsError> {
    let unchanged = || opened.file_text().to_owned();
    match &loc.format {
        ValueFormat::Scalar => {
            let v = after
                .first()
                .cloned()
                .unwrap_or_else(|| PlainValue::str(""));
            Ok(opened
                .set(path, &NewValue::Scalar(v), now)?
                .unwrap_or_else(unchanged))
        }
        ValueFormat::Delimited(sep) => {
            let joined = join(after, sep);
            Ok(opened
                .set(path, &NewValue::Scalar(joined), now)?
                .unwrap_or_else(unchanged))
        }
        ValueFormat::List => {
            // Removals and appends as item edits (one line each); anything else rewrites the
            // list.
            let kept: Vec<&PlainValue> = before.iter().filter(|v| after.contains(v)).collect();
            let is_append =
                after.len() >= kept.len() && after.iter().zip(&kept).all(|(a, k)| a == *k);
            if !is_append {
                let list = NewValue::List(after.iter().cloned().map(NewValue::Scalar).collect());
                return Ok(opened.set(path, &list, now)?.unwrap_or_else(unchanged));
            }
            let mut text = opened.file_text().to_owned();
            let format = opened.format();
            let mut steps: Vec<(Option<usize>, Option<PlainValue>)> = Vec::new();
            for (i, v) in before.iter().enumerate().rev() {
                if !after.contains(v) {
                    steps.push((Some(i), None));
                }
            }
            for v in after.iter().skip(kept.len()) {
                steps.push((None, Some(v.clone())));
            }
            let mut len = before.len();
            for (remove, add) in steps {
                let file = SopsFile::parse(text.clone(), format)?;
                let reopened = file.open_with_same_key(opened)?;
                let mut p = path.clone();
                text = match (remove, add) {
                    (Some(i), _) => {
                        p.0.push(crate::sops::path::Segment::Index(i));
                        len -= 1;
                        reopened.unset(&p, now)?
                    }
                    (None, Some(v)) => {
                        p.0.push(crate::sops::path::Segment::Index(len));
                        len += 1;
                        reopened.set(&p, &NewValue::Scalar(v), now)?.unwrap_or(text)
                    }
                    (None, None) => text,
                };
            }
            Ok(text)
        }
    }
}

fn read_text(files: &dyn Files, path: &str) -> Result<String, ChangeError> {
    let bytes = files
        .read(path)
        .ok_or_else(|| ChangeError::MissingFile(path.to_owned()))?;
    String::from_utf8(bytes).map_err(|_| ChangeError::Location {
        location: path.to_owned(),
        message: "not UTF-8 text".into(),
    })
}

fn parse_sops(path: &str, text: String) -> Result<SopsFile, ChangeError> {
    let format = Format::from_path(Path::new(path)).ok_or_else(|| ChangeError::Location {
        location: path.to_owned(),
        message: "not a .yaml, .yml, .json or .env file".into(),
    })?;
    SopsFile::parse(text, format).map_err(|e| sops_err(path, e))
}

fn sops_err(file: &str, source: SopsError) -> ChangeError {
    ChangeError::Sops {
        file: file.to_owned(),
        source,
    }
}

fn location_err(loc: &Location, message: &str) -> ChangeError {
    ChangeError::Location {
        location: loc.describe(),
        message: message.to_owned(),
    }
}
