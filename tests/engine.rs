//! The rotation engine: scenario transcripts for every preset (checked against the readable
//! files under `fixtures/scenarios/`), duplicated and shuffled delivery, random input
//! sequences against the lifecycle's safety rules, and the engine's purity.
//!
//! After an intended change to the engine, refresh the transcripts with
//! `KEYROLL_UPDATE_SCENARIOS=1 cargo test --test engine` and review the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use keyroll::changeset::Phase as Change;
use keyroll::engine::{
    Command, Conclusion, Effect, Input, Phase, PlannedStep, Rotation, plan_for, step, transcript,
};
use keyroll::policy::{self, Config};
use proptest::prelude::*;
use time::OffsetDateTime;

const START: OffsetDateTime = time::macros::datetime!(2026-01-05 09:00 UTC);

fn demo_config() -> Config {
    policy::parse(
        ".keyroll.yaml",
        &std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap(),
    )
    .unwrap()
}

fn rotation(config: &Config, name: &str, emergency: bool) -> Rotation {
    let cred = config.credential(name).unwrap();
    Rotation::new(
        "R-2026-0007",
        name,
        emergency,
        plan_for(cred, emergency),
        START,
    )
}

fn cmd(command: Command) -> Input {
    Input::Command {
        command,
        actor: "ops".into(),
        pr_number: None,
    }
}

/// Renumbers inputs five minutes apart.
fn timed(inputs: Vec<Input>) -> Vec<(i64, Input)> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, x)| (5 * i as i64, x))
        .collect()
}

fn happy(r: &Rotation) -> Vec<Input> {
    transcript::happy_path(r)
        .into_iter()
        .map(|(_, i)| i)
        .collect()
}

/// The first check of pull request 0's first wave, if it has one.
fn first_check(r: &Rotation) -> Option<String> {
    r.plan[0].steps.iter().find_map(|s| match s {
        PlannedStep::Wave { checks, .. } => checks.first().cloned(),
        PlannedStep::Gate { .. } => None,
    })
}

/// Every scenario the issue names, for one credential, as one transcript.
fn scenarios(config: &Config, name: &str) -> String {
    let mut out = String::new();
    let mut add = |title: &str, r: Rotation, inputs: Vec<(i64, Input)>| {
        let (end, text) = transcript::run(r, &inputs, START);
        out.push_str(&format!(
            "=== {title}\n{text}\n--> ends {}\n\n",
            end.phase.label()
        ));
    };
    let base = rotation(config, name, false);
    let h = happy(&base);
    add("happy path", base.clone(), timed(h.clone()));

    add(
        "pull request closed unmerged",
        base.clone(),
        timed(vec![
            Input::LockAcquired,
            Input::PrOpened { pr: 0, number: 100 },
            Input::PrClosed { number: 100 },
        ]),
    );

    if let Some(check) = first_check(&base) {
        // Up to the merge, then the first check fails; retry; then the rest of the happy path.
        let merged_at = h
            .iter()
            .position(|i| matches!(i, Input::PrMerged { .. }))
            .unwrap()
            + 1;
        let mut inputs: Vec<Input> = h[..merged_at].to_vec();
        inputs.push(Input::Check {
            merge_sha: "merge-0".into(),
            name: check.clone(),
            conclusion: Conclusion::Failure("deploy failed".into()),
        });
        inputs.push(cmd(Command::Retry));
        inputs.extend(h[merged_at..].iter().cloned());
        add("a failed wave, then retry", base.clone(), timed(inputs));

        let mut inputs: Vec<(i64, Input)> = timed(h[..merged_at].to_vec());
        let t = inputs.last().unwrap().0;
        let timeout = base.plan[0].steps[0].timeout().whole_minutes();
        inputs.push((t + timeout + 1, Input::Tick));
        inputs.push((t + timeout + 2, cmd(Command::Retry)));
        for (k, i) in h[merged_at..].iter().enumerate() {
            inputs.push((t + timeout + 3 + k as i64, i.clone()));
        }
        add("a timed-out wave, then retry", base.clone(), inputs);

        let mut inputs: Vec<Input> = h[..merged_at].to_vec();
        inputs.push(Input::Check {
            merge_sha: "merge-0".into(),
            name: check,
            conclusion: Conclusion::Failure("health check".into()),
        });
        inputs.push(cmd(Command::Rollback));
        inputs.push(Input::PrOpened { pr: 1, number: 150 });
        inputs.push(Input::PrMerged {
            number: 150,
            merge_sha: "merge-rollback".into(),
        });
        let rb = rotation(config, name, false);
        let waves: Vec<String> = rb.plan[0]
            .steps
            .iter()
            .filter_map(|s| match s {
                PlannedStep::Wave { checks, .. } => Some(checks.clone()),
                PlannedStep::Gate { .. } => None,
            })
            .flatten()
            .collect();
        for c in waves {
            inputs.push(Input::Check {
                merge_sha: "merge-rollback".into(),
                name: c,
                conclusion: Conclusion::Success,
            });
        }
        add("a failed wave, then rollback", base.clone(), timed(inputs));
    }

    add(
        "abort while the pull request is open",
        base.clone(),
        timed(vec![
            Input::LockAcquired,
            Input::PrOpened { pr: 0, number: 100 },
            cmd(Command::Abort),
        ]),
    );

    let merged_at = h
        .iter()
        .position(|i| matches!(i, Input::PrMerged { .. }))
        .unwrap()
        + 1;
    let mut inputs: Vec<Input> = h[..merged_at].to_vec();
    inputs.push(cmd(Command::Hold));
    inputs.extend(h[merged_at..merged_at + 1].iter().cloned());
    inputs.push(cmd(Command::Unhold));
    inputs.extend(h[merged_at + 1..].iter().cloned());
    add("hold, then unhold", base.clone(), timed(inputs));

    let emergency = rotation(config, name, true);
    add(
        "emergency",
        emergency.clone(),
        transcript::happy_path(&emergency),
    );

    add(
        "another rotation holds the credential",
        base,
        timed(vec![Input::LockBusy {
            holder: "R-2026-0006".into(),
        }]),
    );
    out
}

#[test]
fn scenario_transcripts_match_the_fixtures() {
    let config = demo_config();
    let dir = fixture("scenarios");
    let update = std::env::var_os("KEYROLL_UPDATE_SCENARIOS").is_some();
    let mut mismatched = Vec::new();
    for cred in &config.credentials {
        let text = scenarios(&config, &cred.name);
        let path = dir.join(format!("{}.txt", cred.name));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != text {
            mismatched.push(format!(
                "{}:\n{}",
                path.display(),
                first_difference(&expected, &text)
            ));
        }
    }
    assert!(
        mismatched.is_empty(),
        "transcripts differ (KEYROLL_UPDATE_SCENARIOS=1 refreshes them):\n{}",
        mismatched.join("\n")
    );
}

fn first_difference(a: &str, b: &str) -> String {
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!(
                "  line {}: expected {x:?}\n  line {}: got      {y:?}",
                n + 1,
                n + 1
            );
        }
    }
    format!(
        "  lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn every_scenario_ends_where_it_should() {
    let config = demo_config();
    for cred in &config.credentials {
        let text = scenarios(&config, &cred.name);
        let ends: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("--> ends "))
            .collect();
        let titles: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("=== "))
            .collect();
        for (title, end) in titles.iter().zip(&ends) {
            let want = match *title {
                "happy path"
                | "a failed wave, then retry"
                | "a timed-out wave, then retry"
                | "hold, then unhold"
                | "emergency" => "done",
                "a failed wave, then rollback" => "rolled-back",
                _ => "aborted",
            };
            assert_eq!(*end, want, "{}: {title}", cred.name);
        }
    }
}

/// Every input of the happy path delivered one to three times, in a shuffled order: the
/// rotation ends in the same state, and every effect that acts on the world (opening and
/// closing pull requests, recording, unlocking) has the same key and content. Status
/// updates rewrite one sticky comment, so only the last one matters; it is the same too.
/// GitHub's webhooks are shuffled; a person's confirmation answers a gate they saw waiting,
/// so it comes after the facts that opened the gate (one given earlier does not count).
#[test]
fn duplicated_and_shuffled_inputs_end_the_same() {
    let config = demo_config();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for cred in &config.credentials {
        let base = rotation(&config, &cred.name, false);
        let (reference, reference_fx) = run_all(&base, &happy(&base));
        assert_eq!(reference.phase, Phase::Done, "{}", cred.name);
        for _ in 0..64 {
            let mut inputs = Vec::new();
            let mut confirms = Vec::new();
            for i in happy(&base) {
                let copies = 1 + rng.below(3);
                let to = if matches!(i, Input::Command { .. }) {
                    &mut confirms
                } else {
                    &mut inputs
                };
                to.extend(std::iter::repeat_n(i, copies));
            }
            shuffle(&mut inputs, &mut rng);
            inputs.extend(confirms);
            let (end, fx) = run_all(&base, &inputs);
            assert_eq!(end.phase, reference.phase, "{}: {inputs:?}", cred.name);
            assert_eq!(end.facts.prs, reference.facts.prs, "{}", cred.name);
            assert!(
                end.facts.early.is_empty(),
                "{}: inputs left waiting",
                cred.name
            );
            assert_eq!(
                acting(&fx),
                acting(&reference_fx),
                "{}: effects differ",
                cred.name
            );
            assert_eq!(
                last_status(&fx),
                last_status(&reference_fx),
                "{}",
                cred.name
            );
        }
    }
}

/// A small seeded generator, so a failing order reproduces.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn shuffle(v: &mut [Input], rng: &mut XorShift) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

/// Runs inputs at one instant; returns the end state and every effect, by key.
fn run_all(base: &Rotation, inputs: &[Input]) -> (Rotation, Vec<(String, Effect)>) {
    let mut r = base.clone();
    let mut fx = Vec::new();
    for i in inputs {
        let t = step(&r, i, START);
        fx.extend(t.effects.into_iter().map(|p| (p.key, p.effect)));
        r = t.next;
    }
    (r, fx)
}

/// The effects that act on the world, deduplicated by key as the executor does; a key must
/// always carry the same effect.
fn acting(fx: &[(String, Effect)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, e) in fx {
        if matches!(e, Effect::UpdateStatus { .. }) {
            continue;
        }
        let d = format!("{e:?}");
        if let Some(prev) = out.insert(k.clone(), d.clone()) {
            assert_eq!(prev, d, "key {k} carries two different effects");
        }
    }
    out
}

fn last_status(fx: &[(String, Effect)]) -> Option<String> {
    fx.iter().rev().find_map(|(_, e)| match e {
        Effect::UpdateStatus { text } => Some(text.clone()),
        _ => None,
    })
}

fn any_input(prs: usize, checks: Vec<String>, gates: Vec<String>) -> impl Strategy<Value = Input> {
    let sha = (0..prs + 1).prop_map(|i| format!("merge-{i}"));
    let check = (sha.clone(), prop::sample::select(checks), any::<bool>()).prop_map(
        |(merge_sha, name, ok)| Input::Check {
            merge_sha,
            name,
            conclusion: if ok {
                Conclusion::Success
            } else {
                Conclusion::Failure("red".into())
            },
        },
    );
    let number = (0..prs + 1).prop_map(|i| 100 + i as u64);
    prop_oneof![
        Just(Input::LockAcquired),
        (0..prs + 1, number.clone()).prop_map(|(pr, number)| Input::PrOpened { pr, number }),
        (number.clone(), sha).prop_map(|(number, merge_sha)| Input::PrMerged { number, merge_sha }),
        number.clone().prop_map(|number| Input::PrClosed { number }),
        number.prop_map(|number| Input::PrReopened { number }),
        check.clone(),
        check,
        prop::sample::select(gates).prop_map(|g| cmd(Command::Confirm(g))),
        prop::sample::select(vec![
            Command::Hold,
            Command::Unhold,
            Command::Retry,
            Command::Rollback,
            Command::Abort
        ])
        .prop_map(cmd),
        Just(Input::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever arrives, in whatever order: a pull request is prepared only after the one
    /// before it merged and every wave and gate of its rollout passed, and a rotation that
    /// is done has merged and rolled out its last pull request (remove, where there are
    /// accept lists), so no old value is still accepted.
    #[test]
    fn random_inputs_never_skip_a_wave_or_leave_old_values(
        which in 0usize..6,
        inputs in prop::collection::vec(any_input(3, vec!["deploy-search-api".into(), "deploy-data-api".into(), "deploy-frontends".into(), "deploy-scripts".into(), "terraform-apply".into()], vec!["jenkins-config".into()]), 0..60),
    ) {
        let config = demo_config();
        let cred = &config.credentials[which % config.credentials.len()];
        let mut r = rotation(&config, &cred.name, false);
        // Noise woven into a rotation that would otherwise succeed, so that later phases
        // are reached as well.
        let mut sequence = happy(&r);
        for (k, noise) in inputs.iter().enumerate() {
            let at = (k * 7 + 3) % (sequence.len() + 1);
            sequence.insert(at, noise.clone());
        }
        let mut minutes = 0;
        for input in &sequence {
            minutes += 17;
            let before = r.clone();
            r = step(&r, input, START + time::Duration::minutes(minutes)).next;
            if let Phase::Preparing { pr } = r.phase
                && pr > 0
                && before.phase != r.phase
                && r.plan[pr].change != Change::Rollback
            {
                assert_rolled_out(&r, pr - 1);
            }
        }
        if r.phase == Phase::Done {
            let last = r.plan.len() - 1;
            assert_rolled_out(&r, last);
            if cred.has_accept_locations() {
                prop_assert_eq!(r.plan[last].change, Change::Remove);
            }
        }
    }
}

/// Pull request `pr` merged and every step of its rollout passed.
fn assert_rolled_out(r: &Rotation, pr: usize) {
    let f = r.facts.prs.get(&pr).cloned().unwrap_or_default();
    assert!(
        f.merge_sha.is_some(),
        "pull request {pr} moved on without a merge: {r:?}"
    );
    for s in &r.plan[pr].steps {
        match s {
            PlannedStep::Wave { checks, .. } => {
                for c in checks {
                    assert!(
                        f.succeeded.contains(c),
                        "pull request {pr} moved on before {c} succeeded"
                    );
                }
            }
            PlannedStep::Gate { name, .. } => assert!(
                f.confirmed.contains_key(name),
                "pull request {pr} moved on before gate {name}"
            ),
        }
    }
}

/// The engine is the functional core: it must not reach for IO, clocks or randomness.
#[test]
fn the_engine_imports_no_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let forbidden = [
        "tokio",
        "sqlx",
        "octocrab",
        "git2",
        "axum",
        "std::fs",
        "std::net",
        "std::process",
        "SystemTime",
        "now_utc",
        "getrandom",
        "rand::",
        "crate::repo",
        "crate::sops",
    ];
    let mut checked = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for f in forbidden {
            assert!(!text.contains(f), "{} uses {f}", path.display());
        }
        checked.insert(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(
        checked.contains("step.rs") && checked.len() >= 5,
        "{checked:?}"
    );
}
