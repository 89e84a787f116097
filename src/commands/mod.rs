//! `/keyroll` commands: one table defines every verb (its syntax, the role it needs, where it
//! works and its help line); the parser, the permission check and the help text all read it.
//!
//! Pure: from a comment's text to a command, and from a caller's role to what they may run.
//! Who the caller is (their role) is resolved by the shell from GitHub and the config.

pub mod decide;
mod parse;
mod roles;

pub use parse::{Parsed, parse};
pub use roles::{configured_role, needed_role};

use std::fmt::{self, Write as _};

use crate::policy::{Config, Credential};

/// What a person may do, lowest first: each role can do everything the ones below can.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
// The schema has a `Role` already: a location's (accept or use).
#[schemars(rename = "CommandRole")]
pub enum Role {
    /// Can read the credentials repository.
    Reader,
    /// Owns the credential (its owner team or users in the config), or more.
    Owner,
    /// Runs rotations: retries, rollbacks, aborts, emergencies.
    Operator,
    /// Unlocks, expedites and grants exceptions (the configured security team).
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Owner => "owner",
            Role::Operator => "operator",
            Role::Admin => "admin",
        })
    }
}

/// A command's verb. `.keyroll.yaml` names verbs by their [`Spec::name`] in `roles:`
/// (serde's names are the table's; a test holds them equal).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Verb {
    Help,
    Status,
    Plan,
    Rotate,
    Confirm,
    Hold,
    Unhold,
    Retry,
    Rollback,
    Abort,
}

/// Where a comment was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A pull request keyroll opened.
    PullRequest,
    /// keyroll's dashboard issue.
    Dashboard,
    /// Anywhere else: only `help` answers.
    Elsewhere,
}

/// What a verb takes after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    /// An optional credential name.
    OptionalCredential,
    Credential,
    Gate,
    /// A rotation id, echoed back so destructive verbs are deliberate.
    RotationId,
    /// A rotation id where the place does not say which rotation (the dashboard).
    OptionalRotationId,
}

/// Whether `-- reason` is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The verb changes nothing.
    NotTaken,
    Optional,
    Required,
}

/// One row of the command table.
#[derive(Debug)]
pub struct Spec {
    pub verb: Verb,
    pub name: &'static str,
    pub usage: &'static str,
    pub arg: Arg,
    pub reason: Reason,
    pub role: Role,
    pub on_pull_request: bool,
    pub on_dashboard: bool,
    pub help: &'static str,
}

/// The one verb that works everywhere; also the fallback of [`spec`].
const HELP: Spec = Spec {
    verb: Verb::Help,
    name: "help",
    usage: "/keyroll help",
    arg: Arg::None,
    reason: Reason::NotTaken,
    role: Role::Reader,
    on_pull_request: true,
    on_dashboard: true,
    help: "this list, with what you may run here",
};

/// Every verb. The order is the order of the help text.
pub const TABLE: &[Spec] = &[
    HELP,
    Spec {
        verb: Verb::Status,
        name: "status",
        usage: "/keyroll status",
        arg: Arg::None,
        reason: Reason::NotTaken,
        role: Role::Reader,
        on_pull_request: true,
        on_dashboard: true,
        help: "where the rotation is and what it waits for",
    },
    Spec {
        verb: Verb::Plan,
        name: "plan",
        usage: "/keyroll plan [credential]",
        arg: Arg::OptionalCredential,
        reason: Reason::NotTaken,
        role: Role::Reader,
        on_pull_request: true,
        on_dashboard: true,
        help: "what the next pull request would change (fingerprints only); changes nothing",
    },
    Spec {
        verb: Verb::Rotate,
        name: "rotate",
        usage: "/keyroll rotate <credential> [--emergency] [-- reason]",
        arg: Arg::Credential,
        reason: Reason::Optional,
        role: Role::Owner,
        on_pull_request: false,
        on_dashboard: true,
        help: "start a rotation now; --emergency (operator, reason required) replaces the values in one pull request",
    },
    Spec {
        verb: Verb::Confirm,
        name: "confirm",
        usage: "/keyroll confirm <gate> [-- reason]",
        arg: Arg::Gate,
        reason: Reason::Optional,
        role: Role::Owner,
        on_pull_request: true,
        on_dashboard: false,
        help: "confirm a manual gate is done (by the people the gate names)",
    },
    Spec {
        verb: Verb::Hold,
        name: "hold",
        usage: "/keyroll hold [-- reason]",
        arg: Arg::None,
        reason: Reason::Optional,
        role: Role::Owner,
        on_pull_request: true,
        on_dashboard: false,
        help: "stop the rotation where it is; facts are still recorded",
    },
    Spec {
        verb: Verb::Unhold,
        name: "unhold",
        usage: "/keyroll unhold [-- reason]",
        arg: Arg::None,
        reason: Reason::Optional,
        role: Role::Operator,
        on_pull_request: true,
        on_dashboard: false,
        help: "let a held rotation go on",
    },
    Spec {
        verb: Verb::Retry,
        name: "retry",
        usage: "/keyroll retry [rotation-id] [-- reason]",
        arg: Arg::OptionalRotationId,
        reason: Reason::Optional,
        role: Role::Operator,
        on_pull_request: true,
        on_dashboard: true,
        help: "try a stalled wave or a blocked rotation again, or accept a person's push (on the dashboard: name the rotation)",
    },
    Spec {
        verb: Verb::Rollback,
        name: "rollback",
        usage: "/keyroll rollback <rotation-id> -- reason",
        arg: Arg::RotationId,
        reason: Reason::Required,
        role: Role::Operator,
        on_pull_request: true,
        on_dashboard: true,
        help: "open the reverse of the add pull request (before the old values are removed)",
    },
    Spec {
        verb: Verb::Abort,
        name: "abort",
        usage: "/keyroll abort <rotation-id> -- reason",
        arg: Arg::RotationId,
        reason: Reason::Required,
        role: Role::Operator,
        on_pull_request: true,
        on_dashboard: true,
        help: "stop the rotation and close its open pull requests",
    },
];

/// The row of a verb.
pub fn spec(verb: Verb) -> &'static Spec {
    TABLE.iter().find(|s| s.verb == verb).unwrap_or(&HELP)
}

/// A parsed command, not yet allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub verb: Verb,
    /// The credential, gate or rotation id, as the verb takes.
    pub arg: Option<String>,
    pub emergency: bool,
    pub reason: Option<String>,
}

impl Invocation {
    /// The server's floor for this invocation, before any config tightens it (an emergency
    /// rotation needs more than a routine one); [`needed_role`] adds the config.
    pub fn role_needed(&self) -> Role {
        if self.verb == Verb::Rotate && self.emergency {
            Role::Operator
        } else {
            spec(self.verb).role
        }
    }
}

impl Spec {
    pub fn works_at(&self, place: Place) -> bool {
        match place {
            Place::PullRequest => self.on_pull_request,
            Place::Dashboard => self.on_dashboard,
            Place::Elsewhere => self.verb == Verb::Help,
        }
    }
}

/// Why a command does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    WrongPlace {
        verb: &'static str,
        place: Place,
    },
    Denied {
        verb: &'static str,
        needed: Role,
        have: Role,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::WrongPlace { verb, place } => {
                let here = match place {
                    Place::PullRequest => "on a pull request",
                    Place::Dashboard => "on the dashboard issue",
                    Place::Elsewhere => "here",
                };
                let at: Vec<&str> = TABLE
                    .iter()
                    .filter(|s| s.name == *verb)
                    .flat_map(|s| {
                        let mut w = Vec::new();
                        if s.on_pull_request {
                            w.push("keyroll's pull requests");
                        }
                        if s.on_dashboard {
                            w.push("the dashboard issue");
                        }
                        w
                    })
                    .collect();
                write!(
                    f,
                    "`{verb}` does not work {here}; it works on {}.",
                    at.join(" and ")
                )
            }
            Refusal::Denied { verb, needed, have } => {
                write!(f, "`{verb}` needs the {needed} role; you have {have}.")
            }
        }
    }
}

/// Whether `inv` works at `place` at all.
pub fn allow_place(inv: &Invocation, place: Place) -> Result<(), Refusal> {
    let s = spec(inv.verb);
    if !s.works_at(place) {
        return Err(Refusal::WrongPlace {
            verb: s.name,
            place,
        });
    }
    Ok(())
}

/// Whether `role` may run `inv` at `place` on the server's floor alone. (`confirm` is for
/// the people a gate names; the role here is what applies when the gate names nobody.)
pub fn allow(inv: &Invocation, role: Role, place: Place) -> Result<(), Refusal> {
    allow_needing(inv, role, place, inv.role_needed())
}

/// Whether `role` may run `inv` at `place` when it needs `needed` (from [`needed_role`]).
pub fn allow_needing(
    inv: &Invocation,
    role: Role,
    place: Place,
    needed: Role,
) -> Result<(), Refusal> {
    let s = spec(inv.verb);
    allow_place(inv, place)?;
    if role < needed {
        return Err(Refusal::Denied {
            verb: s.name,
            needed,
            have: role,
        });
    }
    Ok(())
}

/// The help text: every verb that works here, the role it needs here (the server's floor
/// as `config` and the place's credential `cred` tighten it), and whether the caller may.
/// On the dashboard, where no credential is at hand, the credentials that ask for more are
/// listed below the table.
pub fn help(
    role: Role,
    place: Place,
    config: Option<&Config>,
    cred: Option<&Credential>,
) -> String {
    let mut out = String::from(
        "**keyroll commands**\n\n| command | what it does | role | you |\n| --- | --- | --- | --- |\n",
    );
    for s in TABLE.iter().filter(|s| s.works_at(place)) {
        let needed = roles::verb_role(s.verb, config, cred);
        let mark = if role >= needed { "✓" } else { "" };
        let _ = writeln!(out, "| `{}` | {} | {needed} | {mark} |", s.usage, s.help);
    }
    if cred.is_none()
        && let Some(config) = config
    {
        let more = roles::credentials_asking_more(config, place);
        if !more.is_empty() {
            let _ = write!(
                out,
                "\n`.keyroll.yaml` asks for more for some credentials: {}.\n",
                more.join(", ")
            );
        }
    }
    let _ = write!(
        out,
        "\nYour role here: **{role}**. One command per comment, on its own line; edits are not run. \
         A `-- reason` goes to the audit log.\n"
    );
    out
}
