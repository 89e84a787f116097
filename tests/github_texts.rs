//! What people read on GitHub: pull request titles and bodies, the sticky status comment,
//! the gate and config check runs. Snapshots, so a change in wording is a reviewed change.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::fixture;
use keyroll::effects::render;
use keyroll::engine::{Conclusion, Input, Rotation, plan_for, step};
use keyroll::policy::{self, Config};
use time::macros::datetime;

fn demo_config() -> Config {
    let text =
        std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).expect("demo config");
    policy::parse(".keyroll.yaml", &text).expect("demo config parses")
}

/// A rotation of `credential` driven through `inputs`.
fn driven(credential: &str, inputs: &[Input]) -> Rotation {
    let config = demo_config();
    let cred = config.credential(credential).expect("demo credential");
    let start = datetime!(2026-11-24 10:00 UTC);
    let mut r = Rotation::new(
        "R-2026-0042",
        credential,
        false,
        plan_for(cred, false),
        start,
    );
    for (i, input) in inputs.iter().enumerate() {
        r = step(&r, input, start + time::Duration::minutes(i as i64 * 5)).next;
    }
    r
}

fn merged_add() -> Vec<Input> {
    vec![
        Input::LockAcquired,
        Input::PrOpened { pr: 0, number: 101 },
        Input::PrMerged {
            number: 101,
            merge_sha: "a1b2c3".into(),
        },
        Input::Check {
            merge_sha: "a1b2c3".into(),
            name: "deploy-search-api".into(),
            conclusion: Conclusion::Success,
        },
    ]
}

const PLAN: &str = "### `data-api-tokens`: add (rotation `R-2026-0042`)\n\n| location | role | before | after |\n| --- | --- | --- | --- |\n| `vars/production.yaml:data_api.auth_tokens` | accept | A `0123456789ab` | A `0123456789ab`<br>A `ba9876543210` |\n";

#[test]
fn pull_request_title_and_commit_message() {
    use keyroll::changeset::Phase;
    insta::assert_snapshot!(render::pr_title("data-api-tokens", Phase::Add), @"chore(credentials): rotate data-api-tokens (add new)");
    insta::assert_snapshot!(render::pr_title("data-api-tokens", Phase::Remove), @"chore(credentials): rotate data-api-tokens (remove old)");
    insta::assert_snapshot!(render::commit_message(
        "data-api-tokens",
        "R-2026-0042",
        Phase::Add
    ));
}

#[test]
fn add_pull_request_body() {
    let r = driven("data-api-tokens", &[Input::LockAcquired]);
    insta::assert_snapshot!(render::pr_body(&r, 0, PLAN, None));
}

#[test]
fn remove_pull_request_body() {
    let r = driven("data-api-tokens", &[Input::LockAcquired]);
    insta::assert_snapshot!(render::pr_body(
        &r,
        1,
        "### `data-api-tokens`: remove\n",
        None
    ));
}

#[test]
fn manual_pull_request_body() {
    let r = driven("notify-api-keys", &[Input::LockAcquired]);
    insta::assert_snapshot!(render::pr_body(
        &r,
        0,
        "### `notify-api-keys`: add\n",
        Some("Mint a key in the provider's dashboard.\n\n- `vars/production.yaml:notify_api_key`")
    ));
}

#[test]
fn status_comment_in_the_second_wave() {
    let r = driven("data-api-tokens", &merged_add());
    insta::assert_snapshot!(render::status_comment(
        &r,
        "wave data-api: waiting for deploy-data-api on the merge commit"
    ));
}

#[test]
fn status_comment_when_held_and_open() {
    let mut r = driven(
        "data-api-tokens",
        &[Input::LockAcquired, Input::PrOpened { pr: 0, number: 101 }],
    );
    r.held = true;
    insta::assert_snapshot!(render::status_comment(
        &r,
        "pull request #101 is open: waiting for its merge"
    ));
}

fn check(sha: &str, name: &str, conclusion: Conclusion) -> Input {
    Input::Check {
        merge_sha: sha.into(),
        name: name.into(),
        conclusion,
    }
}

fn command(command: keyroll::engine::Command) -> Input {
    Input::Command {
        command,
        actor: "sam".into(),
        pr_number: None,
    }
}

/// Every pull request of a finished rotation: the texts of each, one after the other.
fn final_texts(r: &Rotation, news: &str) -> String {
    let views = render::final_views(r, news);
    assert!(
        !views.is_empty(),
        "a finished rotation writes on its pull requests"
    );
    views
        .iter()
        .map(|v| {
            format!(
                "## #{}\n\n{}\n### keyroll/gate: {} · {}\n\n{}\n",
                v.number,
                v.comment,
                v.gate.conclusion.unwrap_or("in progress"),
                v.gate.title,
                v.gate.summary
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn final_texts_of_a_done_rotation_on_both_pull_requests() {
    let mut inputs = vec![
        Input::LockAcquired,
        Input::PrOpened { pr: 0, number: 101 },
        Input::PrMerged {
            number: 101,
            merge_sha: "a1".into(),
        },
    ];
    for name in ["deploy-search-api", "deploy-frontends", "deploy-scripts"] {
        inputs.push(check("a1", name, Conclusion::Success));
    }
    inputs.push(Input::PrOpened { pr: 1, number: 102 });
    inputs.push(Input::PrMerged {
        number: 102,
        merge_sha: "b2".into(),
    });
    for name in ["deploy-search-api", "deploy-frontends", "deploy-scripts"] {
        inputs.push(check("b2", name, Conclusion::Success));
    }
    let r = driven("search-api-tokens", &inputs);
    assert_eq!(r.phase, keyroll::engine::Phase::Done);
    insta::assert_snapshot!(final_texts(&r, "done"));
}

#[test]
fn final_texts_of_an_aborted_rotation() {
    let r = driven(
        "session-secret",
        &[
            Input::LockAcquired,
            Input::PrOpened { pr: 0, number: 101 },
            Input::PrClosed { number: 101 },
        ],
    );
    insta::assert_snapshot!(final_texts(
        &r,
        "aborted: pull request #101 was closed without merging"
    ));
}

#[test]
fn final_texts_of_a_rolled_back_rotation() {
    let r = driven(
        "search-api-tokens",
        &[
            Input::LockAcquired,
            Input::PrOpened { pr: 0, number: 101 },
            Input::PrMerged {
                number: 101,
                merge_sha: "a1".into(),
            },
            check(
                "a1",
                "deploy-search-api",
                Conclusion::Failure("failure".into()),
            ),
            command(keyroll::engine::Command::Rollback),
            Input::PrOpened { pr: 1, number: 103 },
            Input::PrMerged {
                number: 103,
                merge_sha: "c3".into(),
            },
            check("c3", "deploy-search-api", Conclusion::Success),
            check("c3", "deploy-frontends", Conclusion::Success),
            check("c3", "deploy-scripts", Conclusion::Success),
        ],
    );
    assert_eq!(r.phase, keyroll::engine::Phase::RolledBack);
    insta::assert_snapshot!(final_texts(&r, "rolled back"));
}

#[test]
fn a_running_rotation_has_no_final_texts() {
    let r = driven("data-api-tokens", &merged_add());
    assert!(render::final_views(&r, "news").is_empty());
    assert!(render::final_gate_output(&r).is_none());
}

#[test]
fn gate_check_lists_every_unmet_condition() {
    let mut r = driven(
        "data-api-tokens",
        &[Input::LockAcquired, Input::PrOpened { pr: 0, number: 101 }],
    );
    assert_eq!(
        render::gate_output(&keyroll::engine::gate::conditions(&r, 0, None, false, None))
            .conclusion,
        Some("success")
    );
    r.held = true;
    let unmet = keyroll::engine::gate::conditions(
        &r,
        0,
        Some(".keyroll.yaml:12:7: credentials.x.owner: missing"),
        false,
        None,
    );
    let out = render::gate_output(&unmet);
    assert_eq!(out.conclusion, Some("failure"));
    insta::assert_snapshot!(format!("{}\n\n{}", out.title, out.summary));
}

#[test]
fn gate_check_for_a_manual_credential() {
    let r = driven(
        "notify-api-keys",
        &[Input::LockAcquired, Input::PrOpened { pr: 0, number: 7 }],
    );
    let out = render::gate_output(&keyroll::engine::gate::conditions(&r, 0, None, true, None));
    insta::assert_snapshot!(format!("{}\n\n{}", out.title, out.summary));
}

#[test]
fn config_check_texts() {
    let ok = render::config_output(None);
    let bad = render::config_output(Some(".keyroll.yaml:3:1: version: must be 1"));
    insta::assert_snapshot!(format!(
        "{}\n{}\n\n{}\n{}",
        ok.title, ok.summary, bad.title, bad.summary
    ));
}

#[test]
fn gate_check_after_a_persons_push() {
    let r = driven(
        "data-api-tokens",
        &[
            Input::LockAcquired,
            Input::PrOpened { pr: 0, number: 101 },
            Input::PushedByPerson {
                number: 101,
                login: "alice".into(),
                head_sha: "f00".into(),
            },
        ],
    );
    let problems = vec![
        "`README.md` changed, but rotating `data-api-tokens` changes only `jenkins-vars/jenkins.yaml`, `vars/production.yaml`".to_owned(),
        "`vars/production.yaml`: its recipients changed; a rotation never changes who can read a file".to_owned(),
    ];
    let bad = render::gate_output(&keyroll::engine::gate::conditions(
        &r,
        0,
        None,
        false,
        Some(&problems),
    ));
    let fine = render::gate_output(&keyroll::engine::gate::conditions(
        &r,
        0,
        None,
        false,
        Some(&[]),
    ));
    insta::assert_snapshot!(format!(
        "{}\n\n{}\n---\n{}\n\n{}",
        bad.title, bad.summary, fine.title, fine.summary
    ));
    // Accepted by an operator (`retry`), and nothing wrong: the gate opens.
    let accepted = step(
        &r,
        &Input::Command {
            command: keyroll::engine::Command::Retry,
            actor: "sre".into(),
            pr_number: Some(101),
        },
        datetime!(2026-11-24 11:00 UTC),
    )
    .next;
    assert!(keyroll::engine::gate::conditions(&accepted, 0, None, false, Some(&[])).is_empty());
}

#[test]
fn dashboard_puts_what_needs_people_first() {
    use keyroll::effects::render::{DashboardRow, dashboard};
    use time::macros::date;
    let row = |name: &str, last: Option<time::Date>, due: Option<time::Date>, overdue: bool| {
        DashboardRow {
            credential: name.into(),
            owner: "@acme/marketplace".into(),
            last_rotated: last,
            due,
            overdue,
        }
    };
    let rows = vec![
        row(
            "session-secret",
            Some(date!(2026 - 09 - 01)),
            Some(date!(2026 - 11 - 30)),
            false,
        ),
        row(
            "redis-auth",
            Some(date!(2026 - 06 - 01)),
            Some(date!(2026 - 08 - 30)),
            true,
        ),
        row(
            "data-api-tokens",
            Some(date!(2026 - 08 - 20)),
            Some(date!(2026 - 11 - 18)),
            true,
        ),
        row("database-password", None, None, true),
    ];
    let mut stalled = driven("data-api-tokens", &merged_add());
    stalled = step(
        &stalled,
        &Input::Check {
            merge_sha: "a1b2c3".into(),
            name: "deploy-data-api".into(),
            conclusion: Conclusion::Failure("failure".into()),
        },
        datetime!(2026-11-24 11:00 UTC),
    )
    .next;
    insta::assert_snapshot!(dashboard(&rows, &[stalled], None));
    insta::assert_snapshot!(
        "dashboard_with_config_problems",
        dashboard(
            &rows[..1],
            &[],
            Some(".keyroll.yaml:9:5: credentials.x.owner: missing")
        )
    );
}
