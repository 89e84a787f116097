//! Which reviews count for a keyroll pull request.

use keyroll::effects::approvals::{ReviewFact, tally};

fn review(login: &str, state: &str, commit: &str, eligible: bool) -> ReviewFact {
    ReviewFact {
        login: login.into(),
        state: state.into(),
        commit: Some(commit.into()),
        eligible,
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
    let t = tally(&reviews, "head", 2, None, false);
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
    assert!(tally(&again, "head", 2, None, false).unmet(&[]).is_empty());
}

#[test]
fn changes_requested_blocks_until_approved_or_dismissed() {
    let mut reviews = vec![
        review("carol", "APPROVED", "head", true),
        review("erin", "CHANGES_REQUESTED", "head", true),
    ];
    let t = tally(&reviews, "head", 1, None, false);
    assert_eq!(t.changes_requested_by, vec!["erin"]);
    assert_eq!(t.unmet(&[]).len(), 1);
    // A later comment does not lift it; an approval does.
    reviews.push(review("erin", "COMMENTED", "head", true));
    assert_eq!(tally(&reviews, "head", 1, None, false).unmet(&[]).len(), 1);
    reviews.push(review("erin", "DISMISSED", "head", true));
    assert!(
        tally(&reviews, "head", 1, None, false)
            .unmet(&[])
            .is_empty()
    );
    // Someone the config does not name cannot block.
    let outsider = [
        review("carol", "APPROVED", "head", true),
        review("mallory", "CHANGES_REQUESTED", "head", false),
    ];
    assert!(
        tally(&outsider, "head", 1, None, false)
            .unmet(&[])
            .is_empty()
    );
}

#[test]
fn the_requester_counts_only_when_the_config_says_so() {
    let reviews = [review("Alice", "APPROVED", "head", true)];
    assert_eq!(
        tally(&reviews, "head", 1, Some("alice"), false)
            .approved_by
            .len(),
        0
    );
    assert_eq!(
        tally(&reviews, "head", 1, Some("alice"), true).approved_by,
        vec!["Alice"]
    );
    assert_eq!(
        tally(&reviews, "head", 1, Some("bob"), false).approved_by,
        vec!["Alice"]
    );
}
