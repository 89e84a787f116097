//! What a `/keyroll` command comes to, pure: from the invocation, the caller's role, where it
//! was given, the config and the rotations under way, to one [`Decision`]: refuse it (and
//! why), answer it, or act (build a plan, start a rotation, hand the engine a command). The
//! shell fetches those facts (the role and a gate's confirmers from GitHub, the config and
//! the rotations from the store) and carries the decision out; it decides nothing itself.

use super::{
    Invocation, Place, Refusal, Role, Verb, allow_needing, allow_place, configured_role,
    needed_role, spec,
};
use crate::effects::render;
use crate::engine::confirm::{self, Confirmation};
use crate::engine::{Command, Phase, PlannedStep, Rotation};
use crate::policy::Config;

/// Everything a command is decided on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The caller's login, to address the reply.
    pub actor: &'a str,
    /// The caller's role for the credential concerned; `None`: no access at all.
    pub role: Option<Role>,
    pub place: Place,
    /// The issue or pull request the command was given on.
    pub issue: u64,
    /// The rotation of the pull request it was given on.
    pub rotation: Option<&'a Rotation>,
    /// Every rotation under way in the repository.
    pub active: &'a [Rotation],
    /// The config on the default branch, or what is wrong with it.
    pub config: Result<&'a Config, &'a str>,
    /// Whether the caller is one of the people the named gate's `confirm` lists (only
    /// asked for `confirm`, when the gate names someone).
    pub confirmer: bool,
}

/// What to do beyond answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Build the plan of a credential and answer with it.
    Preview { credential: String },
    /// Start a rotation of a credential.
    Start { credential: String, emergency: bool },
    /// Hand a rotation's engine a command.
    Engine { rotation: String, command: Command },
}

/// The outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether it ran (the reaction: +1 or -1).
    pub ok: bool,
    /// For the command log: `ran`, `denied`, `invalid`, `busy`, `refused`…
    pub outcome: String,
    /// What to answer now, if words are needed.
    pub reply: Option<String>,
    pub action: Option<Action>,
    /// The rotation it concerns, for the command log.
    pub rotation: Option<String>,
}

impl Decision {
    fn refused(outcome: &str, reply: String) -> Self {
        Self {
            ok: false,
            outcome: outcome.to_owned(),
            reply: Some(reply),
            action: None,
            rotation: None,
        }
    }

    fn ran(reply: Option<String>, action: Option<Action>, rotation: Option<&Rotation>) -> Self {
        Self {
            ok: true,
            outcome: "ran".to_owned(),
            reply,
            action,
            rotation: rotation.map(|r| r.id.clone()),
        }
    }

    fn engine(r: &Rotation, command: Command) -> Self {
        Self::ran(
            None,
            Some(Action::Engine {
                rotation: r.id.clone(),
                command,
            }),
            Some(r),
        )
    }
}

/// The credential a command is about: the one named (`rotate`, `plan`), else the pull
/// request's. The shell resolves the caller's role for it (owners are per credential).
pub fn credential_named(inv: &Invocation, rotation: Option<&Rotation>) -> Option<String> {
    match (inv.verb, &inv.arg, rotation) {
        (Verb::Rotate | Verb::Plan, Some(name), _) => Some(name.clone()),
        (_, _, Some(r)) => Some(r.credential.clone()),
        _ => None,
    }
}

/// The people who confirm gate `gate` of `r` (`None`: it has no such gate).
pub fn confirmers<'a>(r: &'a Rotation, gate: &str) -> Option<&'a [String]> {
    r.plan.iter().flat_map(|p| &p.steps).find_map(|s| match s {
        PlannedStep::Gate { name, confirm, .. } if name == gate => Some(confirm.as_slice()),
        _ => None,
    })
}

/// Decides what `inv` comes to.
pub fn decide(inv: &Invocation, f: &Facts<'_>) -> Decision {
    let at = |text: String| format!("@{} {text}", f.actor);
    let config = f.config.ok();
    let cred_name = credential_named(inv, f.rotation);
    let cred = config
        .zip(cred_name.as_deref())
        .and_then(|(c, n)| c.credential(n));
    // Nothing starts on a broken config; say why (the dashboard shows it too).
    if inv.verb == Verb::Rotate
        && let Err(problems) = f.config
    {
        return Decision::refused(
            "refused",
            at(format!(
                "`.keyroll.yaml` on the default branch has problems; no rotation starts until they are fixed:\n\n```\n{problems}\n```"
            )),
        );
    }
    let Some(role) = f.role else {
        return Decision::refused(
            "denied",
            at("keyroll takes commands only from people with access to this repository.".into()),
        );
    };
    // A gate's confirmers are named by the gate (checked below); every other verb by role,
    // the server's floor as the config tightens it for this credential.
    let allowed = if inv.verb == Verb::Confirm {
        allow_place(inv, f.place)
    } else {
        allow_needing(inv, role, f.place, needed_role(inv, config, cred))
    };
    if let Err(refusal) = allowed {
        return Decision::refused(
            "denied",
            at(format!(
                "{refusal} `/keyroll help` lists what you may run here."
            )),
        );
    }
    let no_rotation_here = || {
        Decision::refused(
            "invalid",
            at("there is no rotation on this pull request.".into()),
        )
    };
    match inv.verb {
        Verb::Help => Decision::ran(
            Some(super::help(role, f.place, config, cred)),
            None,
            f.rotation,
        ),
        Verb::Status => Decision::ran(Some(status(f)), None, f.rotation),
        Verb::Plan => match cred {
            Some(c) => Decision::ran(
                None,
                Some(Action::Preview {
                    credential: c.name.clone(),
                }),
                f.rotation,
            ),
            None => Decision::refused(
                "invalid",
                at(format!(
                    "name a credential of `.keyroll.yaml`: `/keyroll plan <credential>`{}",
                    cred_name
                        .map(|n| format!(" (there is no `{n}`)"))
                        .unwrap_or_default()
                )),
            ),
        },
        Verb::Rotate => rotate(inv, f, config, cred),
        Verb::Confirm => {
            let Some(r) = f.rotation else {
                return no_rotation_here();
            };
            let gate = inv.arg.clone().unwrap_or_default();
            let Some(confirm) = confirmers(r, &gate) else {
                return Decision::refused("invalid", at(no_such_gate(r, &gate)));
            };
            // Once the config names a role for `confirm`, the gate's people need it too.
            if let Some(needed) = configured_role(inv.verb, config, cred)
                && role < needed
            {
                let refusal = Refusal::Denied {
                    verb: spec(inv.verb).name,
                    needed,
                    have: role,
                };
                return Decision::refused(
                    "denied",
                    at(format!(
                        "{refusal} `/keyroll help` lists what you may run here."
                    )),
                );
            }
            let may =
                role >= Role::Admin || (confirm.is_empty() && role >= Role::Owner) || f.confirmer;
            if !may {
                return Decision::refused(
                    "denied",
                    at(format!(
                        "gate `{gate}` is confirmed by {}; you are not one of them.",
                        confirm.join(", ")
                    )),
                );
            }
            // Too early: refused here, with one answer (the engine would refuse it too and
            // keeps that rule for inputs that reach it another way, but a command it never
            // takes is answered once, in a comment or a review alike).
            if let Confirmation::NotYet { opens, .. } =
                confirm::confirmation(r, Some(f.issue), &gate)
            {
                return Decision::refused(
                    "refused: gate not open",
                    confirm::too_early(f.actor, &gate, &opens),
                );
            }
            Decision::engine(r, Command::Confirm(gate))
        }
        Verb::Retry if f.rotation.is_none() => {
            let id = inv.arg.clone().unwrap_or_default();
            match f.active.iter().find(|r| r.id == id) {
                Some(r) => Decision::engine(r, Command::Retry),
                None => Decision::refused(
                    "invalid",
                    at(format!(
                        "name a rotation under way: `/keyroll retry <rotation-id>`{}",
                        if id.is_empty() {
                            String::new()
                        } else {
                            format!(" (`{id}` is not one)")
                        }
                    )),
                ),
            }
        }
        Verb::Hold | Verb::Unhold | Verb::Retry => {
            let Some(r) = f.rotation else {
                return no_rotation_here();
            };
            let command = match inv.verb {
                Verb::Hold => Command::Hold,
                Verb::Unhold => Command::Unhold,
                _ => Command::Retry,
            };
            Decision::engine(r, command)
        }
        Verb::Rollback | Verb::Abort => {
            let id = inv.arg.clone().unwrap_or_default();
            let target = match f.rotation {
                Some(r) if r.id == id => Some(r),
                Some(_) => None,
                None => f.active.iter().find(|r| r.id == id),
            };
            let Some(r) = target else {
                return Decision::refused(
                    "invalid",
                    at(format!(
                        "`{id}` is not {}.",
                        f.rotation
                            .map_or("a rotation under way".to_owned(), |r| format!(
                                "this pull request's rotation (`{}`)",
                                r.id
                            ))
                    )),
                );
            };
            let command = if inv.verb == Verb::Rollback {
                Command::Rollback
            } else {
                Command::Abort
            };
            Decision::engine(r, command)
        }
    }
}

fn status(f: &Facts<'_>) -> String {
    match f.rotation {
        Some(r) => render::status_text(r, "status asked for"),
        None if f.active.is_empty() => "No rotation is under way.".into(),
        None => f
            .active
            .iter()
            .map(|r| {
                format!(
                    "- `{}` of `{}`: {}",
                    r.id,
                    r.credential,
                    render::phase_words(r)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn no_such_gate(r: &Rotation, gate: &str) -> String {
    let gates: Vec<String> = r
        .plan
        .iter()
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            PlannedStep::Gate { name, .. } => Some(format!("`{name}`")),
            PlannedStep::Wave { .. } => None,
        })
        .collect();
    format!(
        "rotation `{}` has no gate `{gate}`; its gates: {}.",
        r.id,
        if gates.is_empty() {
            "none".into()
        } else {
            gates.join(", ")
        }
    )
}

/// `rotate`: one rotation per credential at a time, and rotations that share a file wait
/// for each other; say so instead of starting one that can only stop.
fn rotate(
    inv: &Invocation,
    f: &Facts<'_>,
    config: Option<&Config>,
    cred: Option<&crate::policy::Credential>,
) -> Decision {
    let at = |text: String| format!("@{} {text}", f.actor);
    let Some(cred) = cred else {
        return Decision::refused(
            "invalid",
            at(format!(
                "`.keyroll.yaml` on the default branch has no credential `{}`.",
                inv.arg.as_deref().unwrap_or_default()
            )),
        );
    };
    if let Some(busy) = f.active.iter().find(|r| r.credential == cred.name) {
        return Decision::refused(
            "busy",
            at(format!(
                "`{}` is already rotating: `{}`, {}.",
                cred.name,
                busy.id,
                render::phase_words(busy)
            )),
        );
    }
    let files: Vec<&str> = cred.locations.iter().map(|l| l.file.as_str()).collect();
    let sharing = f.active.iter().find_map(|r| {
        let other = config?.credential(&r.credential)?;
        let shared = other
            .locations
            .iter()
            .find(|l| files.contains(&l.file.as_str()))?;
        Some((r, shared.file.clone()))
    });
    if let Some((busy, file)) = sharing {
        return Decision::refused(
            "busy",
            at(format!(
                "`{}` shares `{file}` with `{}`, which `{}` is rotating; start it when that one is done.",
                cred.name, busy.credential, busy.id
            )),
        );
    }
    Decision::ran(
        None,
        Some(Action::Start {
            credential: cred.name.clone(),
            emergency: inv.emergency,
        }),
        None,
    )
}

/// The command a button of the `keyroll/gate` check run stands for (it then goes through
/// the same parser and checks): Confirm confirms the gate the rotation waits at (or asks for
/// the status when none waits), Hold and Retry are `hold` and `retry`.
pub fn button(button: &str, rotation: Option<&Rotation>) -> Option<String> {
    match (button, rotation) {
        ("confirm", Some(r)) => Some(match waiting_gate(r) {
            Some(gate) => format!("/keyroll confirm {gate}"),
            None => "/keyroll status".to_owned(),
        }),
        ("hold", _) => Some("/keyroll hold".to_owned()),
        ("retry", _) => Some("/keyroll retry".to_owned()),
        _ => None,
    }
}

/// The gate a rotation waits at, if it waits at one.
fn waiting_gate(r: &Rotation) -> Option<&str> {
    let Phase::Rollout { pr, step } = r.phase else {
        return None;
    };
    match r.plan.get(pr)?.steps.get(step)? {
        PlannedStep::Gate { name, .. } => Some(name),
        PlannedStep::Wave { .. } => None,
    }
}

/// The answer once a rotation started.
pub fn started(actor: &str, id: &str, credential: &str, emergency: bool) -> String {
    format!(
        "@{actor} started {}rotation `{id}` of `{credential}`.",
        if emergency { "emergency " } else { "" }
    )
}

/// The answer to a command that needed no words, where no reaction can say it (a review's
/// body): what ran, quoted as code so its text mentions and formats nothing.
pub fn acknowledged(actor: &str, line: &str, ok: bool) -> String {
    let what = code_span(line);
    if ok {
        format!("@{actor} {what}: done.")
    } else {
        format!("@{actor} {what}: not run.")
    }
}

/// `text` as a Markdown code span: fenced with one backtick more than its longest run, and
/// padded when it starts or ends with one, as CommonMark asks.
fn code_span(text: &str) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    let longest = one_line
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{one_line}{pad}{fence}")
}

#[cfg(test)]
mod acknowledged_tests {
    use super::acknowledged;

    #[test]
    fn the_command_is_quoted_as_code_whatever_it_holds() {
        assert_eq!(
            acknowledged("ana", "/keyroll hold -- wait", true),
            "@ana `/keyroll hold -- wait`: done."
        );
        assert_eq!(
            acknowledged("ana", "/keyroll hold -- a `b` @team", false),
            "@ana ``/keyroll hold -- a `b` @team``: not run."
        );
        assert_eq!(
            acknowledged("ana", "/keyroll hold -- x`", true),
            "@ana `` /keyroll hold -- x` ``: done."
        );
    }
}
