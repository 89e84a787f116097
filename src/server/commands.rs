//! `/keyroll` comments, the shell around two pure functions: parse ([`crate::commands`]),
//! fetch the facts a decision needs (the commenter's role, a gate's confirmers, the config,
//! the rotations under way), let [`decide::decide`] decide, then carry it out: build a plan,
//! start a rotation, or hand the engine a command input. Receipt is an "eyes" reaction; the
//! result a +1 or -1; a reply only when words are needed. Every command read lands in the
//! command log with its comment's URL, in one transaction with its result and everything
//! keyroll will say about it (the command's outbox, [`crate::store::Answer`]); only then is
//! it said, each answer once ([`crate::runtime::answers`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::commands::decide::{self, Action};
use crate::commands::{self, Invocation, Parsed, Place, Role, Verb};
use crate::effects::github::GitHubAnswerer;
use crate::engine::{Command, Input, Rotation};
use crate::github::rest::{RepoApi, RestError, listed};
use crate::github::webhook::Actor;
use crate::policy::Credential;
use crate::runtime::answers;
use crate::store::{Answer, CommandLog, CommandRecord, CommandResult, Reaction};

use super::StartError;
use super::repos::Repos;
use crate::runtime::Clock;
use crate::store::Store;

/// How long a resolved role is trusted before GitHub is asked again.
const ROLE_TTL: Duration = Duration::from_secs(300);

/// People named by the server's settings; the repository cannot lower these.
#[derive(Debug, Clone, Default)]
pub struct People {
    /// `login` or `@org/team` entries that are operators everywhere.
    pub operators: Vec<String>,
    pub admins: Vec<String>,
}

/// Roles resolved recently, per repository, account id and credential.
#[derive(Debug, Default)]
pub(super) struct RoleCache(HashMap<(String, u64, String), (Option<Role>, Instant)>);

/// What the command handler reads and writes besides the comment: the repositories, the
/// roles resolved lately, the people the server names, the store and the clock.
#[derive(Debug)]
pub(super) struct Commander<'a> {
    pub repos: &'a mut Repos,
    pub roles: &'a mut RoleCache,
    pub people: &'a People,
    pub store: &'a Store,
    pub clock: &'a (dyn Clock + 'static),
}

/// A comment as the command handler needs it.
#[derive(Debug)]
pub(super) struct Comment<'a> {
    pub delivery: &'a str,
    pub action: &'a str,
    pub issue: u64,
    pub id: u64,
    pub body: &'a str,
    pub author: &'a Actor,
    pub url: Option<&'a str>,
    pub source: Source,
}

/// Where a command was written. Only comments take reactions: GitHub has none for a check
/// run's button or a review's body, so there the reply is the only answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Comment,
    /// A button on the gate check run.
    Button,
    /// The body of a pull request review.
    Review,
}

impl Source {
    fn reacts(self) -> bool {
        self == Source::Comment
    }
}

/// The caller's role for `cred` (owner is per credential). `None`: no access at all, or the
/// login now names another account than the one that commented.
async fn resolve_role(
    cx: &mut Commander<'_>,
    api: &RepoApi,
    actor: &Actor,
    cred: Option<&Credential>,
) -> Result<Option<Role>, RestError> {
    let key = (
        api.full_name().to_owned(),
        actor.id,
        cred.map(|c| c.name.clone()).unwrap_or_default(),
    );
    if let Some((role, at)) = cx.roles.0.get(&key)
        && at.elapsed() < ROLE_TTL
    {
        return Ok(*role);
    }
    let (permission, id) = api.permission(&actor.login).await?;
    let mut role = if id != actor.id {
        None
    } else {
        match permission.as_str() {
            "admin" => Some(Role::Admin),
            "maintain" => Some(Role::Operator),
            "write" | "triage" | "read" => Some(Role::Reader),
            _ => None,
        }
    };
    if role.is_some() {
        let people = cx.people.clone();
        if listed(api, &people.admins, &actor.login).await? {
            role = Some(Role::Admin);
        } else if role < Some(Role::Operator)
            && listed(api, &people.operators, &actor.login).await?
        {
            role = Some(Role::Operator);
        }
        if role < Some(Role::Owner)
            && let Some(c) = cred
            && listed(api, std::slice::from_ref(&c.owner), &actor.login).await?
        {
            role = Some(Role::Owner);
        }
    }
    cx.roles.0.insert(key, (role, Instant::now()));
    Ok(role)
}

/// A button pressed on the `keyroll/gate` check run.
#[derive(Debug)]
pub(super) struct Press<'a> {
    pub delivery: &'a str,
    pub button: &'a str,
    pub head_sha: &'a str,
    pub pull_requests: &'a [u64],
    pub sender: &'a Actor,
}

/// A gate button, run as the command it stands for (same parser, same checks): Confirm
/// confirms the gate that waits, Hold and Retry are `hold` and `retry`.
pub(super) async fn button(
    cx: &mut Commander<'_>,
    repo: &str,
    p: Press<'_>,
) -> Result<String, StartError> {
    // GitHub lists only open pull requests on a check run; after the merge, ask.
    let number = match p.pull_requests.first() {
        Some(n) => *n,
        None => {
            let api = cx.repos.api(repo)?;
            match api.pulls_of_commit(p.head_sha).await?.first() {
                Some(n) => *n,
                None => return Ok("button on a commit of no pull request".into()),
            }
        }
    };
    let active = cx.store.active_rotations(repo).await?;
    let rotation = active.iter().find(|r| r.pr_index(number).is_some());
    let Some(text) = decide::button(p.button, rotation) else {
        return Ok(format!("button {}: nothing to do", p.button));
    };
    let pressed = Comment {
        delivery: p.delivery,
        action: "created",
        issue: number,
        id: 0,
        body: &text,
        author: p.sender,
        url: None,
        source: Source::Button,
    };
    comment(cx, repo, pressed).await
}

fn describe(inv: &Invocation) -> String {
    let spec = commands::spec(inv.verb);
    let mut out = format!("/keyroll {}", spec.name);
    if let Some(a) = &inv.arg {
        out.push(' ');
        out.push_str(a);
    }
    if inv.emergency {
        out.push_str(" --emergency");
    }
    if let Some(r) = &inv.reason {
        out.push_str(" -- ");
        out.push_str(r);
    }
    out
}

/// What came of a command: the outcome for the log, and the reply, if words are needed.
struct Done {
    ok: bool,
    outcome: String,
    reply: Option<String>,
    rotation: Option<String>,
}

impl Done {
    fn refused(outcome: &str, reply: String) -> Self {
        Self {
            ok: false,
            outcome: outcome.to_owned(),
            reply: Some(reply),
            rotation: None,
        }
    }

    /// Its result for the store, and what keyroll says: on a comment, eyes (read), the
    /// reply if any, then +1 or -1; elsewhere (no reactions there) the reply alone.
    fn answered(&self, c: &Comment<'_>) -> (CommandResult, Vec<Answer>) {
        let mut answers = Vec::new();
        let react = |reaction| Answer::React {
            comment: c.id,
            reaction,
        };
        if c.source.reacts() {
            answers.push(react(Reaction::Eyes));
        }
        if let Some(text) = &self.reply {
            answers.push(Answer::Reply {
                number: c.issue,
                text: text.clone(),
            });
        }
        if c.source.reacts() {
            answers.push(react(if self.ok {
                Reaction::PlusOne
            } else {
                Reaction::MinusOne
            }));
        }
        let result = CommandResult {
            ok: self.ok,
            outcome: self.outcome.clone(),
            reply: self.reply.clone(),
        };
        (result, answers)
    }
}

/// A rotation the command asked for, started once the command's log is ready to be written
/// with it.
struct ToStart {
    credential: String,
    emergency: bool,
}

pub(super) async fn comment(
    cx: &mut Commander<'_>,
    repo: &str,
    c: Comment<'_>,
) -> Result<String, StartError> {
    // Bots never command keyroll, keyroll included.
    if c.author.is_bot {
        return Ok("comment by a bot: ignored".into());
    }
    let parsed = commands::parse(c.body);
    if parsed == Parsed::Nothing {
        return Ok("no command".into());
    }
    if c.action != "created" && c.action != "edited" {
        return Ok(format!("comment {}: ignored", c.action));
    }
    let api = cx.repos.api(repo)?;
    // The delivery handled again (its last attempt failed, or keyroll stopped): the command
    // ran already; only what is left of answering it is done.
    if let Some(result) = cx.store.command_result(c.delivery).await? {
        return answer(cx, &api, &c, &result.outcome).await;
    }
    let now = cx.clock.now();
    let mut record = CommandRecord {
        repository: repo,
        rotation_id: None,
        comment_id: c.id,
        comment_url: c.url,
        actor_id: c.author.id,
        actor_login: &c.author.login,
        command: "",
        outcome: "",
    };
    if c.action == "edited" {
        // Said once per comment: an edit never runs, however often it is edited.
        if cx.store.command_logged(c.id, "edit not run").await? {
            return Ok("edited command not run".into());
        }
        let text = format!(
            "@{} keyroll does not run edited comments. Post the command in a new comment.",
            c.author.login
        );
        record.command = "(edited comment)";
        record.outcome = "edit not run";
        let log = CommandLog {
            record,
            delivery_id: c.delivery,
            result: CommandResult {
                ok: false,
                outcome: "edit not run".into(),
                reply: Some(text.clone()),
            },
            answers: vec![Answer::Reply {
                number: c.issue,
                text,
            }],
        };
        cx.store.record_command_result(&log, now).await?;
        answer(cx, &api, &c, "edit not run").await?;
        return Ok("edited command not run".into());
    }
    let active = cx.store.active_rotations(repo).await?;
    let rotation = active
        .iter()
        .find(|r| r.facts.prs.values().any(|f| f.number == Some(c.issue)))
        .cloned();
    let dashboard = cx.store.dashboard(repo).await?.map(|(n, _)| n);
    let place = if rotation.is_some() {
        Place::PullRequest
    } else if dashboard == Some(c.issue) {
        Place::Dashboard
    } else {
        Place::Elsewhere
    };
    let (line, done, start) = match parsed {
        Parsed::Nothing => return Ok("no command".into()),
        Parsed::Invalid(msg) => (
            "(invalid)".to_owned(),
            Done::refused("invalid", format!("@{} {msg}", c.author.login)),
            None,
        ),
        Parsed::One(inv) => {
            let line = describe(&inv);
            let scene = Scene {
                place,
                rotation: rotation.as_ref(),
                active: &active,
            };
            let (mut done, start) = run(cx, &api, repo, &c, &inv, scene).await?;
            // Without a reaction to show it, a command in a review is answered in words.
            if c.source == Source::Review && done.reply.is_none() && start.is_none() {
                done.reply = Some(decide::acknowledged(&c.author.login, &line, done.ok));
            }
            (line, done, start)
        }
    };
    record.command = &line;
    record.rotation_id = done
        .rotation
        .as_deref()
        .or(rotation.as_ref().map(|r| r.id.as_str()));
    let outcome = match start {
        // Recorded before the answer: if answering fails, the retry answers without running
        // the command again.
        None => {
            record.outcome = &done.outcome;
            let (result, answers) = done.answered(&c);
            let log = CommandLog {
                record,
                delivery_id: c.delivery,
                result,
                answers,
            };
            cx.store.record_command_result(&log, now).await?;
            done.outcome
        }
        // Recorded with the rotation, in its transaction: the command handled again finds
        // its result instead of a rotation that would make it "already rotating".
        Some(s) => {
            record.outcome = &done.outcome;
            start_rotation(cx, repo, &c, record, &done, &s).await?;
            done.outcome
        }
    };
    tracing::info!(repository = repo, actor = %c.author.login, actor_id = c.author.id, command = %line, outcome = %outcome, "command");
    answer(cx, &api, &c, &outcome).await
}

/// Starts the rotation a command asked for, logging the command (result and answers
/// included) in the rotation's own transaction.
async fn start_rotation(
    cx: &mut Commander<'_>,
    repo: &str,
    c: &Comment<'_>,
    record: CommandRecord<'_>,
    done: &Done,
    s: &ToStart,
) -> Result<(), StartError> {
    let cred = cx.repos.credential(repo, &s.credential).await?;
    let runtime = cx.repos.runtime(repo).await?;
    let login = c.author.login.as_str();
    let id = runtime
        .start_for(&cred, s.emergency, Some(login), |id| {
            let started = Done {
                ok: done.ok,
                outcome: done.outcome.clone(),
                reply: Some(decide::started(login, id, &s.credential, s.emergency)),
                // The store names the rotation in the command's line.
                rotation: None,
            };
            let (result, answers) = started.answered(c);
            Some(CommandLog {
                record,
                delivery_id: c.delivery,
                result,
                answers,
            })
        })
        .await?;
    tracing::info!(repository = repo, rotation = %id, credential = %s.credential, emergency = s.emergency, "rotation started");
    Ok(())
}

/// Says what came of a command: carries out the answers stored with its result (the
/// command's outbox) that were not carried out yet, each once.
async fn answer(
    cx: &Commander<'_>,
    api: &RepoApi,
    c: &Comment<'_>,
    outcome: &str,
) -> Result<String, StartError> {
    let span = tracing::info_span!("answer", delivery = c.delivery);
    let answerer = GitHubAnswerer::new(api.clone());
    answers::carry_out(cx.store, &answerer, cx.clock, c.delivery)
        .instrument(span)
        .await?;
    Ok(format!("command: {outcome}"))
}

/// Where a command was given: the place, the rotation of the pull request it was given
/// on, and every rotation under way in the repository.
struct Scene<'a> {
    place: Place,
    rotation: Option<&'a Rotation>,
    active: &'a [Rotation],
}

/// Fetches what [`decide::decide`] needs (the config, the caller's role, whether they are
/// one of a gate's confirmers), then carries its decision out.
async fn run(
    cx: &mut Commander<'_>,
    api: &RepoApi,
    repo: &str,
    c: &Comment<'_>,
    inv: &Invocation,
    scene: Scene<'_>,
) -> Result<(Done, Option<ToStart>), StartError> {
    let Scene {
        place,
        rotation,
        active,
    } = scene;
    let config_state = cx.repos.config(repo).await?.config;
    let config = config_state.as_deref().map_err(String::as_str);
    let cred = decide::credential_named(inv, rotation)
        .and_then(|name| config.ok()?.credential(&name).cloned());
    let role = resolve_role(cx, api, c.author, cred.as_ref()).await?;
    // Team membership costs requests: asked only when a gate names its confirmers.
    let confirmers = match (inv.verb, rotation, &inv.arg) {
        (Verb::Confirm, Some(r), Some(gate)) => decide::confirmers(r, gate).unwrap_or_default(),
        _ => &[],
    };
    let confirmer = role.is_some()
        && !confirmers.is_empty()
        && listed(api, confirmers, &c.author.login).await?;
    let facts = decide::Facts {
        actor: &c.author.login,
        role,
        place,
        issue: c.issue,
        rotation,
        active,
        config,
        confirmer,
    };
    let d = decide::decide(inv, &facts);
    let mut done = Done {
        ok: d.ok,
        outcome: d.outcome,
        reply: d.reply,
        rotation: d.rotation,
    };
    match d.action {
        None => {}
        Some(Action::Preview { credential }) => {
            let text = match config.ok().and_then(|c| c.credential(&credential)) {
                Some(cred) => match cx.repos.preview(repo, cred).await {
                    Ok(t) => t,
                    Err(reason) => format!("keyroll could not build the plan: {reason}"),
                },
                None => format!("`.keyroll.yaml` has no credential `{credential}`."),
            };
            done.reply = Some(text);
        }
        Some(Action::Start {
            credential,
            emergency,
        }) => {
            return Ok((
                done,
                Some(ToStart {
                    credential,
                    emergency,
                }),
            ));
        }
        Some(Action::Engine { rotation, command }) => {
            engine_command(cx, repo, c, &rotation, command).await?;
        }
    }
    Ok((done, None))
}

/// Hands a checked command to the engine, as an input of the rotation.
async fn engine_command(
    cx: &mut Commander<'_>,
    repo: &str,
    c: &Comment<'_>,
    rotation: &str,
    command: Command,
) -> Result<(), StartError> {
    let input = Input::Command {
        command,
        actor: c.author.login.clone(),
        pr_number: Some(c.issue),
    };
    // A review's delivery also carries the review itself to the rotation, under the
    // delivery's plain key: the command needs a key of its own.
    let key = match c.source {
        Source::Review => format!("{}/{rotation}/command", c.delivery),
        Source::Comment | Source::Button => format!("{}/{rotation}", c.delivery),
    };
    cx.store
        .enqueue(&key, repo, rotation, &input, cx.clock.now())
        .await?;
    Ok(())
}
