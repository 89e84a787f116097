//! `.keyroll.yaml` as written by people: every field, strictly parsed (unknown fields are
//! errors), and the source of `policies/schema.json`.
//!
//! A credential's fields are optional here because a preset (`extends:`) may supply them;
//! [`super::resolve`] merges the two and checks that what is required is there.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::Span;
use super::limits::*;
use crate::commands::{Role as CommandRole, Verb};

/// `roles:`: per verb, the role a `/keyroll` command needs here. It may only tighten: a role
/// below the server's floor for the verb (or, for a credential, below the top level) is a
/// problem. Bounded by the number of verbs, since each may be written once.
pub type RolesSpec = BTreeMap<Verb, CommandRole>;

/// The `.keyroll.yaml` file at the root of a credentials repository.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Format version of this file; must be 1.
    pub version: u32,
    /// Defaults every credential inherits.
    #[serde(default)]
    pub defaults: Defaults,
    /// Per verb, the role a `/keyroll` command needs in this repository, e.g.
    /// `{ rotate: operator }`. Only tightens the server's floor for the verb, never loosens.
    #[serde(default)]
    pub roles: RolesSpec,
    /// The credentials keyroll rotates, by name (letters, digits and `-`).
    #[schemars(extend("maxProperties" = MAX_CREDENTIALS, "propertyNames" = { "maxLength": MAX_NAME_BYTES }))]
    pub credentials: BTreeMap<String, CredentialSpec>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Reviewers requested on every keyroll pull request (`@user` or `@org/team`).
    #[serde(default)]
    #[schemars(length(max = MAX_PEOPLE), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub reviewers: Vec<String>,
    /// How long a value may live before its credential is due for rotation.
    pub max_age: Option<Span>,
    /// Labels put on every keyroll pull request.
    #[serde(default)]
    #[schemars(length(max = MAX_LABELS), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub labels: Vec<String>,
    /// Reviews a keyroll pull request needs before it may merge.
    pub approvals: Option<ApprovalsSpec>,
    /// Whether keyroll merges its own pull requests once approvals and its gate are met
    /// (otherwise people merge). Off unless set.
    pub automerge: Option<bool>,
}

/// Who must approve keyroll's pull requests, and how many of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsSpec {
    /// How many approving reviews on the pull request's current head commit (default 1).
    #[schemars(range(max = MAX_APPROVALS_REQUIRED))]
    pub required: Option<u32>,
    /// Whose approvals count (`@user` or `@org/team`); default: the credential's owner.
    #[schemars(length(max = MAX_PEOPLE), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub from: Option<Vec<String>>,
    /// Whether the person who asked for the rotation (`/keyroll rotate`) may approve its pull
    /// requests (default false: two people).
    pub requester_counts: Option<bool>,
}

/// One credential, or a preset of one (the files under `policies/`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// A preset from keyroll's `policies/` folder whose fields this credential starts from.
    #[schemars(length(max = MAX_NAME_BYTES))]
    pub extends: Option<String>,
    /// What the credential is and who relies on it.
    #[schemars(length(max = MAX_LONG_TEXT_BYTES))]
    pub description: Option<String>,
    /// The team or person who owns the credential (`@org/team`).
    #[schemars(length(max = MAX_SHORT_TEXT_BYTES))]
    pub owner: Option<String>,
    /// Reviewers for this credential's pull requests (replaces the defaults).
    #[schemars(length(max = MAX_PEOPLE), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub reviewers: Option<Vec<String>>,
    /// Maximum age of a value before the credential is due (replaces the default).
    pub max_age: Option<Span>,
    /// One value per consumer, told apart by prefix (A for apps, J for Jenkins…). Without
    /// slots the credential has one value.
    #[schemars(length(max = MAX_SLOTS))]
    pub slots: Option<Vec<SlotSpec>>,
    /// Where new values come from.
    pub generator: Option<GeneratorSpec>,
    /// When use locations move to the new value: in the add pull request (`with-add`, for
    /// deploys ordered by a pipeline) or in a pull request of their own (`separate`, for a
    /// GitOps controller that applies every change at once).
    pub switch: Option<SwitchMode>,
    /// Where the values live.
    #[schemars(length(max = MAX_LOCATIONS))]
    pub locations: Option<Vec<LocationSpec>>,
    /// What must happen after each merge, in order: waves of deploy checks and manual gates.
    #[schemars(length(max = MAX_ROLLOUT_STEPS))]
    pub rollout: Option<Vec<RolloutStepSpec>>,
    /// Reviews this credential's pull requests need (replaces the default).
    pub approvals: Option<ApprovalsSpec>,
    /// Whether keyroll merges this credential's pull requests itself (replaces the default).
    pub automerge: Option<bool>,
    /// Per verb, the role a `/keyroll` command about this credential needs, above the
    /// top-level `roles:` (which it may only tighten, like the top level the server's floor).
    pub roles: Option<RolesSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotSpec {
    /// The slot's name, as locations refer to it.
    #[schemars(length(max = MAX_NAME_BYTES))]
    pub name: String,
    /// The prefix every value of this slot starts with.
    #[serde(default)]
    #[schemars(length(max = MAX_PREFIX_BYTES))]
    pub prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SwitchMode {
    WithAdd,
    Separate,
}

/// How a new value is made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum GeneratorSpec {
    /// A random token from the operating system's CSPRNG, after the slot's prefix.
    Random {
        /// Characters drawn after the prefix.
        #[serde(default = "default_length")]
        #[schemars(range(min = MIN_RANDOM_LENGTH, max = MAX_RANDOM_LENGTH))]
        length: usize,
        /// Which characters to draw from.
        #[serde(default)]
        alphabet: Alphabet,
    },
    /// A name made from today's date, e.g. `APPLICATION-PRODUCTION-{date}`.
    Dated {
        /// The name, with `{date}` where the date goes.
        #[schemars(length(max = MAX_SHORT_TEXT_BYTES))]
        template: String,
        /// How the date is written (`%Y`, `%m`, `%d`, `%H`, `%M`, `%S`).
        #[serde(default = "default_date_format")]
        #[schemars(length(max = MAX_DATE_FORMAT_BYTES))]
        date_format: String,
    },
    /// Today's date, for `*_rotated_date` bumps that make Terraform recreate a secret.
    Date {
        /// How the date is written (`%Y`, `%m`, `%d`, `%H`, `%M`, `%S`).
        #[schemars(length(max = MAX_DATE_FORMAT_BYTES))]
        format: String,
    },
    /// A person mints the value (in a provider's dashboard) and puts it on keyroll's branch.
    Manual {
        /// What the person must do.
        #[schemars(length(max = MAX_LONG_TEXT_BYTES))]
        instructions: String,
        /// Per slot, the name the new value must start with, e.g.
        /// `APPLICATION-PRODUCTION-{date}`.
        #[serde(default)]
        #[schemars(extend("maxProperties" = MAX_MANUAL_NAMES, "additionalProperties" = { "type": "string", "maxLength": MAX_SHORT_TEXT_BYTES }))]
        names: BTreeMap<String, String>,
        /// How `{date}` in the names is written.
        #[serde(default = "default_date_format")]
        #[schemars(length(max = MAX_DATE_FORMAT_BYTES))]
        date_format: String,
    },
}

fn default_length() -> usize {
    40
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Alphabet {
    /// A-Z, a-z, 0-9.
    #[default]
    Alphanumeric,
    /// 0-9, a-f.
    Hex,
    /// A-Z, a-z, 0-9, `-`, `_`.
    UrlSafe,
    /// 0-9.
    Digits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// A verifier's list of values it accepts: add appends, remove drops.
    Accept,
    /// A client's one current value: switched to the new value.
    Use,
}

/// How the values at a location are written: `scalar` (one value), `list` (a YAML/JSON
/// list), or `{ delimited: "," }` (one string of values joined by a separator, like
/// `latest,previous` or `A1:J2:D3`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ValueFormat {
    #[default]
    Scalar,
    List,
    Delimited(String),
}

/// The written forms of [`ValueFormat`]: a name, or a one-key map.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
enum ValueFormatRepr {
    Name(FormatName),
    Delimited(Delimited),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum FormatName {
    /// One value.
    Scalar,
    /// A YAML/JSON list of values.
    List,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Delimited {
    /// The separator between values.
    #[schemars(length(max = MAX_SEPARATOR_BYTES))]
    delimited: String,
}

impl<'de> Deserialize<'de> for ValueFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match ValueFormatRepr::deserialize(d) {
            Ok(ValueFormatRepr::Name(FormatName::Scalar)) => Ok(ValueFormat::Scalar),
            Ok(ValueFormatRepr::Name(FormatName::List)) => Ok(ValueFormat::List),
            Ok(ValueFormatRepr::Delimited(d)) => Ok(ValueFormat::Delimited(d.delimited)),
            Err(_) => Err(serde::de::Error::custom(
                "expected `scalar`, `list` or `{ delimited: \"<separator>\" }`",
            )),
        }
    }
}

impl Serialize for ValueFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ValueFormat::Scalar => ValueFormatRepr::Name(FormatName::Scalar).serialize(s),
            ValueFormat::List => ValueFormatRepr::Name(FormatName::List).serialize(s),
            ValueFormat::Delimited(sep) => ValueFormatRepr::Delimited(Delimited {
                delimited: sep.clone(),
            })
            .serialize(s),
        }
    }
}

impl JsonSchema for ValueFormat {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ValueFormat".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ValueFormatRepr::json_schema(generator)
    }
}

/// Where in an accept list new values go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InsertAt {
    #[default]
    End,
    /// First, for `latest,previous` style values.
    Start,
}

/// One step of a path inside a SOPS file: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PathStep {
    Index(#[schemars(range(max = MAX_PATH_INDEX))] usize),
    Key(#[schemars(length(max = MAX_PATH_KEY_BYTES))] String),
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    /// The file, relative to the repository root.
    #[schemars(length(max = MAX_SHORT_TEXT_BYTES))]
    pub file: String,
    /// Where the value sits inside a SOPS file: keys and list indexes from the top.
    #[schemars(length(max = MAX_PATH_STEPS))]
    pub path: Option<Vec<PathStep>>,
    /// For a plain (non-SOPS) file: a regular expression whose named group `value` is the
    /// value, e.g. `redis_rotated_date\s*=\s*"(?P<value>[^"]*)"`.
    #[schemars(length(max = MAX_PATTERN_BYTES))]
    pub pattern: Option<String>,
    pub role: Role,
    /// The slot whose value this is (use locations, or accept locations for one slot).
    #[schemars(length(max = MAX_NAME_BYTES))]
    pub slot: Option<String>,
    #[serde(default)]
    pub format: ValueFormat,
    #[serde(default)]
    pub insert: InsertAt,
}

/// A wave of deploy checks or a manual gate. Exactly one of `wave` and `gate` is set.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutStepSpec {
    /// The wave's name; it passes when every check succeeded on the merge commit.
    #[schemars(length(max = MAX_NAME_BYTES))]
    pub wave: Option<String>,
    /// The check run names of the wave.
    #[serde(default)]
    #[schemars(length(max = MAX_CHECKS_PER_WAVE), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub checks: Vec<String>,
    /// The gate's name, as in `/keyroll confirm <gate>`.
    #[schemars(length(max = MAX_NAME_BYTES))]
    pub gate: Option<String>,
    /// Who may confirm the gate (`@user`, `@org/team`).
    #[serde(default)]
    #[schemars(length(max = MAX_PEOPLE), inner(length(max = MAX_SHORT_TEXT_BYTES)))]
    pub confirm: Vec<String>,
    /// What the person must do before confirming.
    #[schemars(length(max = MAX_LONG_TEXT_BYTES))]
    pub instructions: Option<String>,
    /// How long the wave or gate may take before the rotation stalls (default 2h for waves,
    /// 3d for gates).
    pub timeout: Option<Span>,
}
