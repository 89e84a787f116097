//! The pure decisions around people, case by case: which reviews count for a keyroll pull
//! request, what the gate of an open pull request decides, when a manual gate takes a
//! confirmation, and what a `/keyroll` command comes to.

#![allow(clippy::panic, clippy::indexing_slicing)]

use keyroll::engine::approvals::{ReviewFact, Rules, tally};

fn rules(required: u32, requester: Option<&str>, requester_counts: bool) -> Rules<'_> {
    Rules {
        required,
        requester,
        requester_counts,
        pushers: &[],
    }
}

fn review(login: &str, state: &str, commit: &str, eligible: bool) -> ReviewFact {
    ReviewFact {
        login: login.into(),
        state: state.into(),
        commit: Some(commit.into()),
        eligible,
        bot: false,
    }
}

#[test]
fn approvals_count_only_on_the_current_head_from_named_people() {
    let reviews = [
        review("alice", "APPROVED", "old", true),
        review("bob", "APPROVED", "head", false),
        review("carol", "APPROVED", "head", true),
        review("dave", "COMMENTED", "head", true),
    ];
    let t = tally(&reviews, "head", &rules(2, None, false));
    assert_eq!(t.approved_by, vec!["carol"]);
    assert_eq!(t.stale, vec!["alice"]);
    assert_eq!(t.not_counted, vec!["bob"]);
    let unmet = t.unmet(&["@acme/platform".into()]);
    assert_eq!(
        unmet,
        vec![
            "1 of 2 approving review(s) on the current head commit, from @acme/platform (approvals by @alice were on an earlier commit) (approvals by @bob do not count here)"
        ]
    );
    // A push voided alice's approval; she approves again on the new head.
    let mut again = reviews.to_vec();
    again.push(review("alice", "APPROVED", "head", true));
    assert!(
        tally(&again, "head", &rules(2, None, false))
            .unmet(&[])
            .is_empty()
    );
}

#[test]
fn changes_requested_blocks_until_approved_or_dismissed() {
    let mut reviews = vec![
        review("carol", "APPROVED", "head", true),
        review("erin", "CHANGES_REQUESTED", "head", true),
    ];
    let t = tally(&reviews, "head", &rules(1, None, false));
    assert_eq!(t.changes_requested_by, vec!["erin"]);
    assert_eq!(t.unmet(&[]).len(), 1);
    // A later comment does not lift it; an approval does.
    reviews.push(review("erin", "COMMENTED", "head", true));
    assert_eq!(
        tally(&reviews, "head", &rules(1, None, false))
            .unmet(&[])
            .len(),
        1
    );
    reviews.push(review("erin", "DISMISSED", "head", true));
    assert!(
        tally(&reviews, "head", &rules(1, None, false))
            .unmet(&[])
            .is_empty()
    );
    // Someone the config does not name cannot block.
    let outsider = [
        review("carol", "APPROVED", "head", true),
        review("mallory", "CHANGES_REQUESTED", "head", false),
    ];
    assert!(
        tally(&outsider, "head", &rules(1, None, false))
            .unmet(&[])
            .is_empty()
    );
}

#[test]
fn a_bots_review_never_counts() {
    let mut bot = review("deploy-bot[bot]", "APPROVED", "head", true);
    bot.bot = true;
    let t = tally(&[bot.clone()], "head", &rules(1, None, false));
    assert!(t.approved_by.is_empty());
    assert_eq!(t.unmet(&[]).len(), 1);
    bot.state = "CHANGES_REQUESTED".into();
    let person = review("carol", "APPROVED", "head", true);
    assert!(
        tally(&[person, bot], "head", &rules(1, None, false))
            .unmet(&[])
            .is_empty()
    );
}

#[test]
fn the_requester_counts_only_when_the_config_says_so() {
    let reviews = [review("Alice", "APPROVED", "head", true)];
    assert_eq!(
        tally(&reviews, "head", &rules(1, Some("alice"), false))
            .approved_by
            .len(),
        0
    );
    assert_eq!(
        tally(&reviews, "head", &rules(1, Some("alice"), true)).approved_by,
        vec!["Alice"]
    );
    assert_eq!(
        tally(&reviews, "head", &rules(1, Some("bob"), false)).approved_by,
        vec!["Alice"]
    );
}

// The gate of an open pull request, and what the engine does with its decision.

mod gate {
    use keyroll::changeset::Phase as Change;
    use keyroll::engine::approvals::ReviewFact;
    use keyroll::engine::confirm::{Confirmation, confirmation};
    use keyroll::engine::gate::evaluate;
    use keyroll::engine::{
        Command, Effect, GateAction, GateFacts, GatePolicy, Input, Phase, PlannedPr, PlannedStep,
        Rotation, step,
    };
    use time::OffsetDateTime;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-05 09:00 UTC);

    fn wave(name: &str, checks: &[&str]) -> PlannedStep {
        PlannedStep::Wave {
            name: name.into(),
            checks: checks.iter().map(|c| (*c).to_owned()).collect(),
            timeout_secs: 3600,
        }
    }

    /// Add (two waves, then gate `jenkins`), then remove; pull request #7 open.
    fn open_rotation() -> Rotation {
        let plan = vec![
            PlannedPr {
                change: Change::Add,
                steps: vec![
                    wave("apps", &["deploy-a", "deploy-b"]),
                    wave("scripts", &["deploy-s"]),
                    PlannedStep::Gate {
                        name: "jenkins".into(),
                        confirm: vec!["@acme/release".into()],
                        instructions: "make jenkins".into(),
                        timeout_secs: 3600,
                    },
                ],
            },
            PlannedPr {
                change: Change::Remove,
                steps: vec![wave("apps", &["deploy-a", "deploy-b"])],
            },
        ];
        let mut r = Rotation::new("R-1", "tokens", false, plan, NOW);
        r.requested_by = Some("alice".into());
        r.facts.locked = true;
        r.facts.prs.entry(0).or_default().number = Some(7);
        r.phase = Phase::Open { pr: 0 };
        r
    }

    fn approved(login: &str, commit: &str) -> ReviewFact {
        ReviewFact {
            login: login.into(),
            state: "APPROVED".into(),
            commit: Some(commit.into()),
            eligible: true,
            bot: false,
        }
    }

    fn policy(automerge: bool) -> GatePolicy {
        GatePolicy {
            required: 1,
            from: vec!["@acme/owners".into()],
            requester_counts: false,
            automerge,
        }
    }

    fn facts<'a>(reviews: &'a [ReviewFact], policy: &'a GatePolicy) -> GateFacts<'a> {
        GateFacts {
            head_sha: "head",
            open: true,
            draft: false,
            config_problem: None,
            manual_credential: false,
            push_problems: None,
            reviews,
            policy: Some(policy),
        }
    }

    fn merge_at(head: &str) -> GateAction {
        GateAction::Merge {
            head_sha: head.into(),
        }
    }

    #[test]
    fn met_gate_merges_only_where_the_config_allows() {
        let r = open_rotation();
        let reviews = [approved("mona", "head")];
        let yes = policy(true);
        let d = evaluate(&r, 0, &facts(&reviews, &yes));
        assert!(d.unmet.is_empty(), "{:?}", d.unmet);
        assert_eq!(d.actions, vec![merge_at("head")]);
        let no = policy(false);
        let d = evaluate(&r, 0, &facts(&reviews, &no));
        assert!(d.unmet.is_empty());
        assert!(d.actions.is_empty(), "people merge");
        // Not named by the config: nothing is merged.
        let unnamed = GateFacts {
            policy: None,
            ..facts(&reviews, &yes)
        };
        assert!(evaluate(&r, 0, &unnamed).actions.is_empty());
        // Closed meanwhile: nothing to merge.
        let closed = GateFacts {
            open: false,
            ..facts(&reviews, &yes)
        };
        assert!(evaluate(&r, 0, &closed).actions.is_empty());
    }

    #[test]
    fn unmet_conditions_hold_the_merge_back() {
        let yes = policy(true);
        let r = open_rotation();
        // No approval on the current head (a push voided it), or none at all.
        for reviews in [vec![approved("mona", "older")], vec![]] {
            let d = evaluate(&r, 0, &facts(&reviews, &yes));
            assert_eq!(d.unmet.len(), 1, "{:?}", d.unmet);
            assert!(d.actions.is_empty());
        }
        let reviews = [approved("mona", "head")];
        // On hold.
        let mut held = open_rotation();
        held.held = true;
        let d = evaluate(&held, 0, &facts(&reviews, &yes));
        assert!(d.unmet[0].contains("on hold"), "{:?}", d.unmet);
        assert!(d.actions.is_empty());
        // A broken config.
        let broken = GateFacts {
            config_problem: Some("bad"),
            ..facts(&reviews, &yes)
        };
        assert!(evaluate(&r, 0, &broken).actions.is_empty());
        // A person pushed: problems found, or nothing found but not accepted yet.
        let mut pushed = open_rotation();
        pushed.facts.prs.entry(0).or_default().edited_by_person = true;
        let problems = ["a value that does not decrypt".to_owned()];
        let found = GateFacts {
            push_problems: Some(&problems),
            ..facts(&reviews, &yes)
        };
        assert!(evaluate(&pushed, 0, &found).actions.is_empty());
        let clean = GateFacts {
            push_problems: Some(&[]),
            ..facts(&reviews, &yes)
        };
        let d = evaluate(&pushed, 0, &clean);
        assert!(d.unmet[0].contains("/keyroll retry"), "{:?}", d.unmet);
        pushed.facts.prs.entry(0).or_default().edit_accepted = true;
        assert_eq!(evaluate(&pushed, 0, &clean).actions, vec![merge_at("head")]);
    }

    #[test]
    fn approvals_by_pushers_and_the_requester_do_not_count() {
        let yes = policy(true);
        let mut r = open_rotation();
        r.facts
            .prs
            .entry(0)
            .or_default()
            .pushed_by
            .insert("pete".into());
        for login in ["pete", "Alice"] {
            let reviews = [approved(login, "head")];
            let d = evaluate(&r, 0, &facts(&reviews, &yes));
            assert!(d.actions.is_empty(), "{login}");
            assert_eq!(d.unmet.len(), 1, "{login}: {:?}", d.unmet);
        }
        let reviews = [approved("pete", "head")];
        assert!(evaluate(&r, 0, &facts(&reviews, &yes)).unmet[0].contains("they pushed"));
        let counts = GatePolicy {
            requester_counts: true,
            ..policy(true)
        };
        let reviews = [approved("alice", "head")];
        assert!(evaluate(&r, 0, &facts(&reviews, &counts)).unmet.is_empty());
    }

    #[test]
    fn a_manual_draft_is_marked_ready_once_its_value_is_pushed_and_accepted() {
        let yes = policy(true);
        let reviews = [approved("mona", "head")];
        let manual = |r: &Rotation| {
            evaluate(
                r,
                0,
                &GateFacts {
                    manual_credential: true,
                    draft: true,
                    push_problems: r
                        .facts
                        .prs
                        .get(&0)
                        .is_some_and(|f| f.edited_by_person)
                        .then_some(&[][..]),
                    ..facts(&reviews, &yes)
                },
            )
        };
        let mut r = open_rotation();
        let d = manual(&r);
        assert!(
            d.unmet[0].contains("must push the new value"),
            "{:?}",
            d.unmet
        );
        assert!(d.actions.is_empty());
        let f = r.facts.prs.entry(0).or_default();
        f.edited_by_person = true;
        f.edit_accepted = true;
        assert_eq!(
            manual(&r).actions,
            vec![GateAction::MarkReady, merge_at("head")]
        );
    }

    fn effects(r: &Rotation, input: &Input) -> Vec<Effect> {
        step(r, input, NOW)
            .effects
            .into_iter()
            .map(|p| p.effect)
            .collect()
    }

    #[test]
    fn the_engine_merges_what_the_gate_decided_while_nothing_changed() {
        let r = open_rotation();
        let met = Input::GateEvaluated {
            number: 7,
            head_sha: "head".into(),
            actions: vec![GateAction::MarkReady, merge_at("head")],
            evaluation: "status/review/0/1".into(),
        };
        assert_eq!(
            effects(&r, &met),
            vec![
                Effect::MarkReady { number: 7 },
                Effect::Merge {
                    number: 7,
                    head_sha: "head".into()
                }
            ]
        );
        // Held since, merged since, or a merge asked at another head: nothing.
        let mut held = r.clone();
        held.held = true;
        assert!(effects(&held, &met).is_empty());
        let mut pushed = r.clone();
        pushed.facts.prs.entry(0).or_default().edited_by_person = true;
        assert!(effects(&pushed, &met).is_empty(), "a push came in since");
        let mut merged = r.clone();
        merged.phase = Phase::Rollout { pr: 0, step: 0 };
        assert!(
            !effects(&merged, &met)
                .iter()
                .any(|e| matches!(e, Effect::Merge { .. } | Effect::MarkReady { .. }))
        );
        let other = Input::GateEvaluated {
            number: 7,
            head_sha: "head".into(),
            actions: vec![merge_at("elsewhere")],
            evaluation: "status/review/0/2".into(),
        };
        assert!(effects(&r, &other).is_empty());
        // Each evaluation may try the merge again (GitHub may have refused it); a replayed
        // one has the same key, so it runs once.
        let merge_key = |input: &Input| -> Vec<String> {
            step(&r, input, NOW)
                .effects
                .into_iter()
                .filter(|p| matches!(p.effect, Effect::Merge { .. }))
                .map(|p| p.key)
                .collect()
        };
        let again = Input::GateEvaluated {
            number: 7,
            head_sha: "head".into(),
            actions: vec![merge_at("head")],
            evaluation: "status/review/0/3".into(),
        };
        assert_eq!(merge_key(&met), merge_key(&met.clone()));
        assert_ne!(merge_key(&met), merge_key(&again));
    }

    fn confirm(by: &str, on: Option<u64>) -> Input {
        Input::Command {
            command: Command::Confirm("jenkins".into()),
            actor: by.into(),
            pr_number: on,
        }
    }

    #[test]
    fn a_gate_takes_a_confirmation_only_while_it_waits() {
        let mut r = open_rotation();
        // Open: before the merge, the whole rollout comes first.
        match confirmation(&r, Some(7), "jenkins") {
            Confirmation::NotYet { pr: 0, opens } => assert_eq!(
                opens,
                "pull request #7 merges, then wave `apps` succeeds (deploy-a, deploy-b on the merge commit or a later one), then wave `scripts` succeeds (deploy-s on the merge commit or a later one)"
            ),
            other => panic!("{other:?}"),
        }
        // During the first wave, with one check done: only what is left.
        r.facts.prs.entry(0).or_default().merge_sha = Some("m".into());
        r.facts
            .prs
            .entry(0)
            .or_default()
            .succeeded
            .insert("deploy-a".into());
        r.phase = Phase::Rollout { pr: 0, step: 0 };
        match confirmation(&r, Some(7), "jenkins") {
            Confirmation::NotYet { opens, .. } => assert_eq!(
                opens,
                "wave `apps` succeeds (deploy-b on the merge commit or a later one), then wave `scripts` succeeds (deploy-s on the merge commit or a later one)"
            ),
            other => panic!("{other:?}"),
        }
        // Stalled in the second wave: still not open.
        r.phase = Phase::Stalled {
            pr: 0,
            step: 1,
            reason: "failed".into(),
        };
        assert!(matches!(
            confirmation(&r, None, "jenkins"),
            Confirmation::NotYet { .. }
        ));
        r.phase = Phase::Rollout { pr: 0, step: 2 };
        assert_eq!(
            confirmation(&r, None, "jenkins"),
            Confirmation::Open { pr: 0 }
        );
        r.phase = Phase::Open { pr: 1 };
        assert_eq!(
            confirmation(&r, None, "jenkins"),
            Confirmation::Passed { pr: 0 }
        );
        assert_eq!(confirmation(&r, None, "nope"), Confirmation::Unknown);
    }

    #[test]
    fn an_early_confirm_is_answered_and_not_kept() {
        let r = open_rotation();
        let t = step(&r, &confirm("rita", Some(7)), NOW);
        assert!(t.next.facts.prs[&0].confirmed.is_empty(), "nothing kept");
        match t.effects.as_slice() {
            [p] => match &p.effect {
                Effect::Reply { number: 7, text } => {
                    assert!(text.starts_with("@rita gate `jenkins` is not open yet: it opens after pull request #7 merges"), "{text}");
                    assert!(text.contains("Nothing was recorded"), "{text}");
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        // Given at the gate, it counts: the rollout goes on and the gate check says who.
        let mut waiting = r.clone();
        let f = waiting.facts.prs.entry(0).or_default();
        f.merge_sha = Some("m".into());
        f.succeeded
            .extend(["deploy-a", "deploy-b", "deploy-s"].map(String::from));
        waiting.phase = Phase::Rollout { pr: 0, step: 2 };
        let t = step(&waiting, &confirm("rita", Some(7)), NOW);
        assert_eq!(t.next.facts.prs[&0].confirmed["jenkins"], "rita");
        assert_eq!(t.next.phase, Phase::Preparing { pr: 1 });
        assert!(t.effects.iter().any(|p| p.effect
            == Effect::SettleGate {
                number: 7,
                gate: "jenkins".into(),
                confirmed_by: Some("rita".into())
            }));
        // Aborted at the gate: its check stops asking.
        let t = step(
            &waiting,
            &Input::Command {
                command: Command::Abort,
                actor: "sam".into(),
                pr_number: Some(7),
            },
            NOW,
        );
        assert!(t.effects.iter().any(|p| p.effect
            == Effect::SettleGate {
                number: 7,
                gate: "jenkins".into(),
                confirmed_by: None
            }));
    }
}

mod commands {
    use keyroll::commands::decide::{Action, Decision, Facts, button, decide};
    use keyroll::commands::{Invocation, Place, Role, Verb};
    use keyroll::engine::{Command, Phase, Rotation, plan_for};
    use keyroll::policy::{self, Config};
    use time::OffsetDateTime;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-01-05 09:00 UTC);

    fn config() -> Config {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/demo-credentials/.keyroll.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap_or_default();
        match policy::parse(".keyroll.yaml", &text) {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// A rotation of `credential` with pull request #7 open.
    fn rotation(config: &Config, id: &str, credential: &str) -> Rotation {
        let Some(cred) = config.credential(credential) else {
            panic!("no {credential}")
        };
        let mut r = Rotation::new(id, credential, false, plan_for(cred, false), NOW);
        r.facts.prs.entry(0).or_default().number = Some(7);
        r.phase = Phase::Open { pr: 0 };
        r
    }

    fn inv(verb: Verb, arg: Option<&str>) -> Invocation {
        Invocation {
            verb,
            arg: arg.map(str::to_owned),
            emergency: false,
            reason: Some("test".into()),
        }
    }

    fn facts<'a>(
        config: &'a Config,
        role: Option<Role>,
        rotation: Option<&'a Rotation>,
        active: &'a [Rotation],
    ) -> Facts<'a> {
        Facts {
            actor: "pat",
            role,
            place: if rotation.is_some() {
                Place::PullRequest
            } else {
                Place::Dashboard
            },
            issue: if rotation.is_some() { 7 } else { 1 },
            rotation,
            active,
            config: Ok(config),
            confirmer: false,
        }
    }

    fn reply(d: &Decision) -> &str {
        d.reply.as_deref().unwrap_or_default()
    }

    #[test]
    fn a_reader_changes_nothing_and_a_stranger_gets_a_refusal() {
        let c = config();
        let r = rotation(&c, "R-1", "data-api-tokens");
        let active = [r.clone()];
        let on_pr = facts(&c, Some(Role::Reader), Some(&r), &active);
        for (verb, arg) in [
            (Verb::Hold, None),
            (Verb::Unhold, None),
            (Verb::Retry, None),
            (Verb::Rollback, Some("R-1")),
            (Verb::Abort, Some("R-1")),
        ] {
            let d = decide(&inv(verb, arg), &on_pr);
            assert!(!d.ok && d.action.is_none(), "{verb:?}: {d:?}");
            assert!(reply(&d).contains("you have reader"), "{verb:?}: {d:?}");
        }
        // Confirm is for the gate's people, whatever the role.
        let d = decide(&inv(Verb::Confirm, Some("jenkins-config")), &on_pr);
        assert!(reply(&d).contains("you are not one of them"), "{d:?}");
        let dash = facts(&c, Some(Role::Reader), None, &active);
        let d = decide(&inv(Verb::Rotate, Some("session-secret")), &dash);
        assert_eq!((d.ok, d.outcome.as_str()), (false, "denied"));
        // Reading works.
        let d = decide(&inv(Verb::Status, None), &on_pr);
        assert!(d.ok && reply(&d).contains("R-1"), "{d:?}");
        let d = decide(&inv(Verb::Help, None), &on_pr);
        assert!(d.ok && reply(&d).contains("Your role here: **reader**"));
        let stranger = facts(&c, None, Some(&r), &active);
        let d = decide(&inv(Verb::Status, None), &stranger);
        assert!(reply(&d).contains("only from people with access"), "{d:?}");
    }

    #[test]
    fn rotate_starts_only_a_free_credential_on_a_valid_config() {
        let c = config();
        let none: [Rotation; 0] = [];
        let owner = facts(&c, Some(Role::Owner), None, &none);
        let d = decide(&inv(Verb::Rotate, Some("data-api-tokens")), &owner);
        assert_eq!(
            d.action,
            Some(Action::Start {
                credential: "data-api-tokens".into(),
                emergency: false
            })
        );
        // An emergency needs an operator.
        let mut emergency = inv(Verb::Rotate, Some("data-api-tokens"));
        emergency.emergency = true;
        assert!(reply(&decide(&emergency, &owner)).contains("needs the operator role"));
        let operator = facts(&c, Some(Role::Operator), None, &none);
        assert!(matches!(
            decide(&emergency, &operator).action,
            Some(Action::Start {
                emergency: true,
                ..
            })
        ));
        // Unknown, busy, sharing a file, or a broken config: refused, and why.
        let d = decide(&inv(Verb::Rotate, Some("nope")), &owner);
        assert_eq!(d.outcome, "invalid");
        let busy = [rotation(&c, "R-1", "data-api-tokens")];
        let d = decide(
            &inv(Verb::Rotate, Some("data-api-tokens")),
            &facts(&c, Some(Role::Owner), None, &busy),
        );
        assert_eq!(d.outcome, "busy");
        assert!(reply(&d).contains("already rotating: `R-1`"), "{d:?}");
        let d = decide(
            &inv(Verb::Rotate, Some("search-api-tokens")),
            &facts(&c, Some(Role::Owner), None, &busy),
        );
        assert!(
            reply(&d).contains("shares `vars/production.yaml` with `data-api-tokens`"),
            "{d:?}"
        );
        let broken = Facts {
            config: Err("credentials.x: unknown field"),
            ..owner
        };
        let d = decide(&inv(Verb::Rotate, Some("data-api-tokens")), &broken);
        assert!(
            d.action.is_none() && reply(&d).contains("unknown field"),
            "{d:?}"
        );
        // Not on a pull request.
        let r = rotation(&c, "R-1", "data-api-tokens");
        let d = decide(
            &inv(Verb::Rotate, Some("session-secret")),
            &facts(&c, Some(Role::Admin), Some(&r), &busy),
        );
        assert!(
            reply(&d).contains("does not work on a pull request"),
            "{d:?}"
        );
    }

    #[test]
    fn confirm_is_for_the_gates_people_and_an_early_one_gets_a_minus_one() {
        let c = config();
        let r = rotation(&c, "R-1", "data-api-tokens");
        let mut waiting = r.clone();
        waiting.facts.prs.entry(0).or_default().merge_sha = Some("m".into());
        waiting.phase = Phase::Rollout { pr: 0, step: 3 };
        let active = [r.clone()];
        let confirm = inv(Verb::Confirm, Some("jenkins-config"));
        let by_release = Facts {
            confirmer: true,
            ..facts(&c, Some(Role::Reader), Some(&r), &active)
        };
        // Before the gate is open: refused with what comes first (a -1 and one reply), and
        // nothing reaches the engine.
        let d = decide(&confirm, &by_release);
        assert_eq!(
            (d.ok, d.outcome.as_str()),
            (false, "refused: gate not open")
        );
        assert!(
            reply(&d).contains("gate `jenkins-config` is not open yet"),
            "{d:?}"
        );
        assert_eq!(d.action, None);
        // At the gate: a +1.
        let at_gate = Facts {
            rotation: Some(&waiting),
            ..by_release
        };
        let d = decide(&confirm, &at_gate);
        assert!(d.ok, "{d:?}");
        assert_eq!(
            d.action,
            Some(Action::Engine {
                rotation: "R-1".into(),
                command: Command::Confirm("jenkins-config".into())
            })
        );
        // An owner outside the release team may not; an admin may.
        let owner = Facts {
            confirmer: false,
            role: Some(Role::Owner),
            ..at_gate
        };
        assert!(reply(&decide(&confirm, &owner)).contains("confirmed by @acme/release"));
        let admin = Facts {
            role: Some(Role::Admin),
            ..owner
        };
        assert!(decide(&confirm, &admin).ok);
        // A gate the rotation does not have.
        let d = decide(&inv(Verb::Confirm, Some("nope")), &at_gate);
        assert!(
            reply(&d).contains("has no gate `nope`; its gates: `jenkins-config`"),
            "{d:?}"
        );
    }

    #[test]
    fn gate_buttons_stand_for_commands() {
        let c = config();
        let mut r = rotation(&c, "R-1", "data-api-tokens");
        assert_eq!(
            button("confirm", Some(&r)).as_deref(),
            Some("/keyroll status")
        );
        r.phase = Phase::Rollout { pr: 0, step: 3 };
        assert_eq!(
            button("confirm", Some(&r)).as_deref(),
            Some("/keyroll confirm jenkins-config")
        );
        assert_eq!(button("hold", None).as_deref(), Some("/keyroll hold"));
        assert_eq!(button("retry", Some(&r)).as_deref(), Some("/keyroll retry"));
        assert_eq!(button("confirm", None), None);
        assert_eq!(button("merge", Some(&r)), None);
    }

    #[test]
    fn rotation_ids_make_destructive_verbs_deliberate() {
        let c = config();
        let r = rotation(&c, "R-1", "data-api-tokens");
        let active = [r.clone()];
        let op = facts(&c, Some(Role::Operator), Some(&r), &active);
        assert!(decide(&inv(Verb::Abort, Some("R-1")), &op).ok);
        let d = decide(&inv(Verb::Abort, Some("R-2")), &op);
        assert!(
            reply(&d).contains("this pull request's rotation (`R-1`)"),
            "{d:?}"
        );
        // On the dashboard, retry names its rotation.
        let dash = facts(&c, Some(Role::Operator), None, &active);
        assert!(reply(&decide(&inv(Verb::Retry, None), &dash)).contains("name a rotation"));
        assert_eq!(
            decide(&inv(Verb::Retry, Some("R-1")), &dash).action,
            Some(Action::Engine {
                rotation: "R-1".into(),
                command: Command::Retry
            })
        );
        let d = decide(&inv(Verb::Rollback, Some("R-9")), &dash);
        assert!(
            reply(&d).contains("`R-9` is not a rotation under way"),
            "{d:?}"
        );
    }

    // `.keyroll.yaml`'s `roles:` tighten the server's floor (the table) per verb, and a
    // credential's own `roles:` tighten the top level's.

    /// The demo config with `roles:` as if written at the top level and under `credential`.
    fn tightened(top: &[(Verb, Role)], credential: &str, own: &[(Verb, Role)]) -> Config {
        let mut c = config();
        c.roles.extend(top.iter().copied());
        let Some(cred) = c.credentials.iter_mut().find(|x| x.name == credential) else {
            panic!("no {credential}")
        };
        cred.roles.extend(own.iter().copied());
        c
    }

    #[test]
    fn a_tightened_verb_is_refused_to_a_role_the_floor_allows() {
        let c = tightened(
            &[(Verb::Rotate, Role::Operator), (Verb::Hold, Role::Operator)],
            "data-api-tokens",
            &[],
        );
        let none: [Rotation; 0] = [];
        let rotate = inv(Verb::Rotate, Some("session-secret"));
        // The server lets an owner start a rotation; this repository asks for an operator.
        assert!(decide(&rotate, &facts(&config(), Some(Role::Owner), None, &none)).ok);
        let d = decide(&rotate, &facts(&c, Some(Role::Owner), None, &none));
        assert_eq!((d.ok, d.outcome.as_str()), (false, "denied"));
        assert!(d.action.is_none(), "{d:?}");
        assert_eq!(
            reply(&d),
            "@pat `rotate` needs the operator role; you have owner. `/keyroll help` lists what you may run here."
        );
        assert!(decide(&rotate, &facts(&c, Some(Role::Operator), None, &none)).ok);
        // On a pull request too.
        let r = rotation(&c, "R-1", "data-api-tokens");
        let active = [r.clone()];
        let d = decide(
            &inv(Verb::Hold, None),
            &facts(&c, Some(Role::Owner), Some(&r), &active),
        );
        assert!(
            reply(&d).contains("`hold` needs the operator role; you have owner"),
            "{d:?}"
        );
        // Verbs the config does not name keep the server's floor.
        let d = decide(
            &inv(Verb::Status, None),
            &facts(&c, Some(Role::Reader), Some(&r), &active),
        );
        assert!(d.ok, "{d:?}");
    }

    #[test]
    fn a_credentials_roles_beat_the_top_level() {
        let c = tightened(
            &[(Verb::Rotate, Role::Operator), (Verb::Abort, Role::Admin)],
            "data-api-tokens",
            &[(Verb::Rotate, Role::Admin)],
        );
        let none: [Rotation; 0] = [];
        let operator = facts(&c, Some(Role::Operator), None, &none);
        let d = decide(&inv(Verb::Rotate, Some("data-api-tokens")), &operator);
        assert!(
            reply(&d).contains("`rotate` needs the admin role; you have operator"),
            "{d:?}"
        );
        // Another credential: the top level.
        assert!(decide(&inv(Verb::Rotate, Some("session-secret")), &operator).ok);
        let admin = facts(&c, Some(Role::Admin), None, &none);
        assert!(decide(&inv(Verb::Rotate, Some("data-api-tokens")), &admin).ok);
        // The top level still holds for verbs the credential does not name.
        let r = rotation(&c, "R-1", "data-api-tokens");
        let active = [r.clone()];
        let d = decide(
            &inv(Verb::Abort, Some("R-1")),
            &facts(&c, Some(Role::Operator), Some(&r), &active),
        );
        assert!(
            reply(&d).contains("`abort` needs the admin role; you have operator"),
            "{d:?}"
        );
        // Even a config built around validation cannot loosen: the highest level wins.
        let lower = tightened(
            &[(Verb::Rotate, Role::Admin)],
            "data-api-tokens",
            &[(Verb::Rotate, Role::Reader)],
        );
        let d = decide(
            &inv(Verb::Rotate, Some("data-api-tokens")),
            &facts(&lower, Some(Role::Operator), None, &none),
        );
        assert!(reply(&d).contains("needs the admin role"), "{d:?}");
    }

    #[test]
    fn an_emergency_needs_at_least_an_operator_whatever_the_config() {
        let c = tightened(
            &[(Verb::Rotate, Role::Owner)],
            "session-secret",
            &[(Verb::Rotate, Role::Owner)],
        );
        let none: [Rotation; 0] = [];
        let mut emergency = inv(Verb::Rotate, Some("session-secret"));
        emergency.emergency = true;
        let d = decide(&emergency, &facts(&c, Some(Role::Owner), None, &none));
        assert!(
            reply(&d).contains("`rotate` needs the operator role; you have owner"),
            "{d:?}"
        );
        assert!(decide(&emergency, &facts(&c, Some(Role::Operator), None, &none)).ok);
        // Tightened above operator, an emergency needs that too.
        let c = tightened(&[], "session-secret", &[(Verb::Rotate, Role::Admin)]);
        let d = decide(&emergency, &facts(&c, Some(Role::Operator), None, &none));
        assert!(
            reply(&d).contains("needs the admin role; you have operator"),
            "{d:?}"
        );
    }

    #[test]
    fn a_role_for_confirm_binds_the_gates_own_people() {
        let c = tightened(&[], "data-api-tokens", &[(Verb::Confirm, Role::Operator)]);
        let mut r = rotation(&c, "R-1", "data-api-tokens");
        r.facts.prs.entry(0).or_default().merge_sha = Some("m".into());
        r.phase = Phase::Rollout { pr: 0, step: 3 };
        let active = [r.clone()];
        let confirm = inv(Verb::Confirm, Some("jenkins-config"));
        let release = Facts {
            confirmer: true,
            ..facts(&c, Some(Role::Owner), Some(&r), &active)
        };
        let d = decide(&confirm, &release);
        assert_eq!((d.ok, d.outcome.as_str()), (false, "denied"));
        assert!(
            reply(&d).contains("`confirm` needs the operator role; you have owner"),
            "{d:?}"
        );
        let release_operator = Facts {
            role: Some(Role::Operator),
            ..release
        };
        assert!(decide(&confirm, &release_operator).ok);
        // The role adds to the gate's list; it does not replace it.
        let other_operator = Facts {
            confirmer: false,
            ..release_operator
        };
        assert!(reply(&decide(&confirm, &other_operator)).contains("you are not one of them"));
    }

    #[test]
    fn help_shows_the_role_each_verb_needs_here() {
        let c = tightened(
            &[(Verb::Rotate, Role::Operator)],
            "data-api-tokens",
            &[(Verb::Hold, Role::Operator), (Verb::Rotate, Role::Admin)],
        );
        let none: [Rotation; 0] = [];
        let d = decide(
            &inv(Verb::Help, None),
            &facts(&c, Some(Role::Owner), None, &none),
        );
        insta::assert_snapshot!("help_on_the_dashboard_of_a_tightened_config", reply(&d));
        // On a pull request, its credential's roles.
        let r = rotation(&c, "R-1", "data-api-tokens");
        let active = [r.clone()];
        let d = decide(
            &inv(Verb::Help, None),
            &facts(&c, Some(Role::Owner), Some(&r), &active),
        );
        assert!(
            reply(&d).contains("| `/keyroll hold [-- reason]` | stop the rotation where it is; facts are still recorded | operator |  |"),
            "{}",
            reply(&d)
        );
        let other = rotation(&c, "R-2", "session-secret");
        let active = [other.clone()];
        let d = decide(
            &inv(Verb::Help, None),
            &facts(&c, Some(Role::Owner), Some(&other), &active),
        );
        assert!(
            reply(&d).contains("| `/keyroll hold [-- reason]` | stop the rotation where it is; facts are still recorded | owner | ✓ |"),
            "{}",
            reply(&d)
        );
    }
}
