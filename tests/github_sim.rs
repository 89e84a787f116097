//! The simulated GitHub (`tests/sim`) is real: a plain HTTP client (reqwest, an App JWT made
//! here with the test key) gets an installation token, reads and writes real git objects,
//! opens and merges a pull request (a real two-parent merge commit in the bare repository),
//! writes checks, statuses, labels, comments and reactions; every fault kind answers the way
//! GitHub does; webhooks reach a real socket, signed, built from GitHub's example payloads and
//! readable by keyroll's own parser; lost, duplicated and redelivered deliveries behave; the
//! request log gets its lines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use crate::sim;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keyroll::github::signature::Secrets;
use keyroll::github::webhook::{Event, parse};
use serde_json::{Value, json};
use sim::{Fault, FaultKind, Protection, Sim, SimOptions, User};

/// The self-test's own requests (some wrong on purpose) stay out of the shared request log,
/// which holds what keyroll sends.
fn quiet() -> SimOptions {
    SimOptions {
        request_log: None,
        ..SimOptions::default()
    }
}

const SECRET: &str = "test-webhook-secret";

/// An App JWT signed with the test key: valid from `iat_ago` seconds ago for `lifetime`.
fn jwt(iss: &str, iat_ago: i64, lifetime: i64) -> String {
    let pem = std::fs::read(common::fixture("github-app/test-app-key.pem")).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({ "iat": now - iat_ago, "exp": now - iat_ago + lifetime, "iss": iss });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A GitHub client as bare as it gets.
struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<String>,
}

impl Client {
    fn new(sim: &Sim, auth: Option<String>) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: sim.url(),
            auth,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("User-Agent", "keyroll-sim-selftest/0.1")
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }
}

/// An installation token for the simulation, fetched the way an App does.
async fn token(sim: &Sim) -> Client {
    let app = Client::new(sim, Some(format!("Bearer {}", jwt("1234", 60, 540))));
    let a = app
        .post(
            &format!("/app/installations/{}/access_tokens", sim.installation_id()),
            json!({ "repositories": ["credentials"] }),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let token = a.json["token"].as_str().unwrap().to_owned();
    Client::new(sim, Some(format!("Bearer {token}")))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> String {
    let packed: String = s.split_whitespace().collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(packed)
            .unwrap(),
    )
    .unwrap()
}

const R: &str = "/repos/acme/credentials";

#[tokio::test]
async fn app_authentication() {
    let sim = Sim::start(quiet()).await;
    let path = "/app/installations/77/access_tokens";

    for (what, auth) in [
        ("no credentials", None),
        ("another issuer", Some(jwt("999", 60, 540))),
        ("longer than ten minutes", Some(jwt("1234", 60, 700))),
        ("expired", Some(jwt("1234", 700, 600))),
        ("not a JWT", Some("abc.def.ghi".to_owned())),
    ] {
        let c = Client::new(&sim, auth.map(|t| format!("Bearer {t}")));
        let a = c.call(Method::POST, path, None).await;
        assert_eq!(a.status, 401, "{what}: {}", a.json);
        assert!(a.json["message"].is_string(), "{what}");
    }
    // A JWT signed with another key.
    let other = {
        let mut parts: Vec<String> = jwt("1234", 60, 540).split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    let a = Client::new(&sim, Some(format!("Bearer {other}")))
        .call(Method::POST, path, None)
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(sim.tokens_issued(), 0);

    let app = Client::new(&sim, Some(format!("Bearer {}", jwt("1234", 60, 540))));
    let a = app.call(Method::POST, path, None).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let token = a.json["token"].as_str().unwrap();
    assert!(token.starts_with("ghs_") && token.len() > 40, "{token}");
    let expires = time::OffsetDateTime::parse(
        a.json["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::minutes(59) && left <= time::Duration::hours(1));
    assert!(a.json["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a.json["permissions"]["contents"], "write");
    assert_eq!(a.json["repository_selection"], "selected");
    // Another installation, and more than was granted.
    assert_eq!(
        app.call(Method::POST, "/app/installations/78/access_tokens", None)
            .await
            .status,
        404
    );
    let a = app
        .post(
            path,
            json!({ "permissions": { "administration": "write" } }),
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(sim.tokens_issued(), 1);

    // The token opens the API; nothing else does.
    let c = Client::new(&sim, Some(format!("token {token}")));
    assert_eq!(c.get(R).await.status, 200);
    let a = Client::new(&sim, None).get(R).await;
    assert_eq!(a.status, 401);
    let a = Client::new(&sim, Some("Bearer ghs_made_up".to_owned()))
        .get(R)
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json["message"], "Bad credentials");
    assert!(a.json["documentation_url"].is_string());
    // The App JWT is not an installation token.
    assert_eq!(app.get(R).await.status, 401);
    // Tokens expire.
    sim.expire_tokens();
    assert_eq!(c.get(R).await.status, 401);
    // A request without User-Agent is refused, as GitHub does.
    let a = reqwest::Client::new()
        .get(format!("{}{R}", sim.url()))
        .header("Authorization", "Bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status().as_u16(), 403);
    assert!(sim.unhandled().is_empty(), "{:?}", sim.unhandled());
}

#[tokio::test]
async fn git_data_pull_request_and_merge() {
    let mut options = quiet();
    options
        .permissions
        .insert("statuses".into(), "write".into());
    let sim = Sim::start(options).await;
    sim.set_team("acme", "secops", &["bob"]);
    let c = token(&sim).await;

    let repo = c.get(R).await.json;
    assert_eq!(repo["id"], 4242);
    assert_eq!(repo["full_name"], "acme/credentials");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["owner"]["login"], "acme");
    let installed = c.get("/installation/repositories").await.json;
    assert_eq!(installed["total_count"], 1);
    assert_eq!(installed["repositories"][0]["name"], "credentials");

    // main: one commit holding the demo credentials.
    let main = c.get(&format!("{R}/git/ref/heads/main")).await;
    assert_eq!(main.status, 200);
    assert_eq!(main.json["ref"], "refs/heads/main");
    assert_eq!(main.json["object"]["type"], "commit");
    let main_sha = main.json["object"]["sha"].as_str().unwrap().to_owned();
    assert_eq!(sim.branch_sha("main").as_deref(), Some(main_sha.as_str()));
    let commit = c.get(&format!("{R}/git/commits/{main_sha}")).await.json;
    assert_eq!(commit["parents"].as_array().unwrap().len(), 0);
    let main_tree = commit["tree"]["sha"].as_str().unwrap().to_owned();
    let tree = c
        .get(&format!("{R}/git/trees/{main_sha}?recursive=1"))
        .await
        .json;
    assert_eq!(tree["sha"], main_tree.as_str());
    assert_eq!(tree["truncated"], false);
    let entry = tree["tree"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "vars/production.yaml")
        .expect("the demo file is in the tree")
        .clone();
    assert_eq!(entry["type"], "blob");
    assert_eq!(entry["mode"], "100644");
    assert!(
        tree["tree"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "vars" && e["type"] == "tree")
    );
    let blob = c
        .get(&format!("{R}/git/blobs/{}", entry["sha"].as_str().unwrap()))
        .await
        .json;
    assert_eq!(blob["encoding"], "base64");
    let content = blob["content"].as_str().unwrap();
    assert!(content.lines().all(|l| l.len() <= 60) && content.ends_with('\n'));
    let on_disk =
        std::fs::read_to_string(common::fixture("demo-credentials/vars/production.yaml")).unwrap();
    assert_eq!(unb64(content), on_disk);
    assert_eq!(blob["size"], on_disk.len());
    let file = c
        .get(&format!("{R}/contents/vars/production.yaml?ref=main"))
        .await
        .json;
    assert_eq!(file["type"], "file");
    assert_eq!(unb64(file["content"].as_str().unwrap()), on_disk);
    assert_eq!(c.get(&format!("{R}/contents/nope.yaml")).await.status, 404);
    assert_eq!(
        c.get(&format!("{R}/git/ref/heads/nope")).await.json["message"],
        "Not Found"
    );

    // A blob, a tree on top of main's (nested path, a file by content, a deletion), a
    // commit, a branch.
    let new_blob = c
        .post(
            &format!("{R}/git/blobs"),
            json!({ "content": b64("rotated: yes\n"), "encoding": "base64" }),
        )
        .await;
    assert_eq!(new_blob.status, 201, "{}", new_blob.json);
    let new_blob = new_blob.json["sha"].as_str().unwrap().to_owned();
    let t = c
        .post(
            &format!("{R}/git/trees"),
            json!({
                "base_tree": main_tree,
                "tree": [
                    { "path": "vars/production.yaml", "mode": "100644", "type": "blob", "sha": new_blob },
                    { "path": "new/dir/notes.txt", "mode": "100644", "type": "blob", "content": "hello\n" },
                    { "path": "terraform/redis.tf", "mode": "100644", "type": "blob", "sha": null },
                ],
            }),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.json);
    let new_tree = t.json["sha"].as_str().unwrap().to_owned();
    let listing = c
        .get(&format!("{R}/git/trees/{new_tree}?recursive=1"))
        .await
        .json;
    let paths: Vec<&str> = listing["tree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"new/dir/notes.txt") && paths.contains(&"new/dir"));
    assert!(!paths.contains(&"terraform/redis.tf"));
    assert!(
        paths.contains(&"jenkins-vars/jenkins.yaml"),
        "the base tree's other files stay"
    );
    let bad = c
        .post(
            &format!("{R}/git/trees"),
            json!({ "tree": [{ "path": "x", "mode": "100644", "type": "blob" }] }),
        )
        .await;
    assert_eq!(bad.status, 422);

    let created = c
        .post(
            &format!("{R}/git/commits"),
            json!({ "message": "keyroll: rotate", "tree": new_tree, "parents": [main_sha] }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let head_sha = created.json["sha"].as_str().unwrap().to_owned();
    assert_eq!(created.json["author"]["name"], "keyroll[bot]");
    assert_eq!(created.json["verification"]["verified"], true);
    assert_eq!(created.json["parents"][0]["sha"], main_sha.as_str());
    assert_eq!(
        c.post(
            &format!("{R}/git/commits"),
            json!({ "message": "x", "tree": new_tree, "parents": ["0123456789012345678901234567890123456789"] }),
        )
        .await
        .status,
        422
    );
    let branch = "keyroll/db/R-2026-0001/add";
    let r = c
        .post(
            &format!("{R}/git/refs"),
            json!({ "ref": format!("refs/heads/{branch}"), "sha": head_sha }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let again = c
        .post(
            &format!("{R}/git/refs"),
            json!({ "ref": format!("refs/heads/{branch}"), "sha": head_sha }),
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(again.json["message"], "Reference already exists");
    assert_eq!(
        c.get(&format!("{R}/git/ref/heads/{branch}")).await.json["object"]["sha"],
        head_sha.as_str()
    );

    // Moving a branch: fast-forward only, unless forced.
    let sibling = c
        .post(
            &format!("{R}/git/commits"),
            json!({ "message": "sibling", "tree": main_tree, "parents": [main_sha] }),
        )
        .await
        .json["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let nff = c
        .patch(
            &format!("{R}/git/refs/heads/{branch}"),
            json!({ "sha": sibling, "force": false }),
        )
        .await;
    assert_eq!(nff.status, 422);
    assert_eq!(nff.json["message"], "Update is not a fast forward");
    let forced = c
        .patch(
            &format!("{R}/git/refs/heads/{branch}"),
            json!({ "sha": sibling, "force": true }),
        )
        .await;
    assert_eq!(forced.status, 200);
    let back = c
        .patch(
            &format!("{R}/git/refs/heads/{branch}"),
            json!({ "sha": head_sha, "force": true }),
        )
        .await;
    assert_eq!(back.status, 200);

    // History and ancestry from real git.
    let cmp = c
        .get(&format!("{R}/compare/{main_sha}...{head_sha}"))
        .await
        .json;
    assert_eq!(cmp["status"], "ahead");
    assert_eq!(cmp["ahead_by"], 1);
    assert_eq!(cmp["behind_by"], 0);
    assert_eq!(cmp["merge_base_commit"]["sha"], main_sha.as_str());
    let cmp = c
        .get(&format!("{R}/compare/{head_sha}...{sibling}"))
        .await
        .json;
    assert_eq!(cmp["status"], "diverged");
    let touching = c
        .get(&format!(
            "{R}/commits?sha={head_sha}&path=new%2Fdir%2Fnotes.txt&per_page=5"
        ))
        .await
        .json;
    assert_eq!(touching.as_array().unwrap().len(), 1);
    assert_eq!(touching[0]["sha"], head_sha.as_str());
    assert!(touching[0]["commit"]["committer"]["date"].is_string());
    let all = c
        .get(&format!(
            "{R}/commits?sha={head_sha}&path=vars%2Fproduction.yaml"
        ))
        .await
        .json;
    assert_eq!(all.as_array().unwrap().len(), 2);

    // A pull request.
    let opened = c
        .post(
            &format!("{R}/pulls"),
            json!({ "title": "Rotate db", "head": branch, "base": "main", "body": "by keyroll", "draft": false, "maintainer_can_modify": false }),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.json);
    let pr = opened.json["number"].as_u64().unwrap();
    assert_eq!(pr, 101);
    assert_eq!(opened.json["head"]["ref"], branch);
    assert_eq!(opened.json["head"]["sha"], head_sha.as_str());
    assert_eq!(
        opened.json["head"]["label"],
        format!("acme:{branch}").as_str()
    );
    assert_eq!(opened.json["base"]["ref"], "main");
    assert_eq!(opened.json["user"]["login"], "keyroll[bot]");
    assert_eq!(opened.json["user"]["type"], "Bot");
    assert_eq!(opened.json["state"], "open");
    assert_eq!(opened.json["merged"], false);
    let dup = c
        .post(
            &format!("{R}/pulls"),
            json!({ "title": "again", "head": branch, "base": "main" }),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(
        dup.json["errors"][0]["message"],
        format!("A pull request already exists for acme:{branch}.").as_str()
    );
    let empty = c
        .post(
            &format!("{R}/pulls"),
            json!({ "title": "nothing", "head": "main", "base": "main" }),
        )
        .await;
    assert_eq!(empty.status, 422);
    let found = c
        .get(&format!(
            "{R}/pulls?state=all&head=acme%3A{}&per_page=10",
            branch.replace('/', "%2F")
        ))
        .await
        .json;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["number"], pr);
    let got = c.get(&format!("{R}/pulls/{pr}")).await.json;
    assert_eq!(got["mergeable"], true);
    assert_eq!(got["commits"], 1);

    // Labels, reviewers, an edited body.
    let labels = c
        .post(
            &format!("{R}/issues/{pr}/labels"),
            json!({ "labels": ["credentials", "rotation"] }),
        )
        .await;
    assert_eq!(labels.status, 200);
    assert_eq!(labels.json.as_array().unwrap().len(), 2);
    let asked = c
        .post(
            &format!("{R}/pulls/{pr}/requested_reviewers"),
            json!({ "reviewers": ["alice"], "team_reviewers": ["secops"] }),
        )
        .await;
    assert_eq!(asked.status, 201, "{}", asked.json);
    assert_eq!(
        c.post(
            &format!("{R}/pulls/{pr}/requested_reviewers"),
            json!({ "reviewers": ["mallory"] }),
        )
        .await
        .status,
        422
    );
    assert_eq!(
        c.patch(
            &format!("{R}/pulls/{pr}"),
            json!({ "body": "by keyroll, edited" })
        )
        .await
        .status,
        200
    );
    let snap = sim.pull(pr);
    assert_eq!(snap.labels, ["credentials", "rotation"]);
    assert_eq!(snap.requested_reviewers, ["alice"]);
    assert_eq!(snap.requested_teams, ["secops"]);
    assert_eq!(snap.body, "by keyroll, edited");

    // Comments: create, edit, list, react.
    let comment = c
        .post(
            &format!("{R}/issues/{pr}/comments"),
            json!({ "body": "status: pending" }),
        )
        .await;
    assert_eq!(comment.status, 201);
    let comment_id = comment.json["id"].as_u64().unwrap();
    assert_eq!(comment.json["user"]["login"], "keyroll[bot]");
    assert!(
        comment.json["html_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/pull/{pr}#issuecomment-{comment_id}"))
    );
    let edited = c
        .patch(
            &format!("{R}/issues/comments/{comment_id}"),
            json!({ "body": "status: done" }),
        )
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(
        c.post(
            &format!("{R}/issues/{pr}/comments"),
            json!({ "text": "wrong field" })
        )
        .await
        .status,
        422
    );
    let listed = c
        .get(&format!("{R}/issues/{pr}/comments?per_page=100"))
        .await
        .json;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["body"], "status: done");
    let person = sim.comment(pr, &User::alice(), "/keyroll status").await;
    let reaction = c
        .post(
            &format!("{R}/issues/comments/{person}/reactions"),
            json!({ "content": "eyes" }),
        )
        .await;
    assert_eq!(reaction.status, 201);
    let again = c
        .post(
            &format!("{R}/issues/comments/{person}/reactions"),
            json!({ "content": "eyes" }),
        )
        .await;
    assert_eq!(again.status, 200, "an existing reaction answers 200");
    let comments = sim.comments(pr);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0].author, "keyroll[bot]");
    assert_eq!(comments[1].author, User::alice());
    assert_eq!(sim.reactions().len(), 1);

    // Check runs and commit statuses.
    let run = c
        .post(
            &format!("{R}/check-runs"),
            json!({ "name": "keyroll/gate", "head_sha": head_sha, "status": "in_progress", "output": { "title": "Waiting", "summary": "0 of 1 approvals" } }),
        )
        .await;
    assert_eq!(run.status, 201, "{}", run.json);
    assert_eq!(run.json["app"]["slug"], "keyroll");
    let run_id = run.json["id"].as_u64().unwrap();
    let done = c
        .patch(
            &format!("{R}/check-runs/{run_id}"),
            json!({ "status": "completed", "conclusion": "success", "output": { "title": "Ready", "summary": "approved" } }),
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(done.json["conclusion"], "success");
    assert_eq!(
        c.post(
            &format!("{R}/check-runs"),
            json!({ "name": "x", "head_sha": "0123456789012345678901234567890123456789" }),
        )
        .await
        .status,
        422
    );
    let runs = c
        .get(&format!(
            "{R}/commits/{head_sha}/check-runs?check_name=keyroll%2Fgate&per_page=100"
        ))
        .await
        .json;
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["output"]["title"], "Ready");
    let s = c
        .post(
            &format!("{R}/statuses/{head_sha}"),
            json!({ "state": "pending", "context": "ci/lint", "description": "running" }),
        )
        .await;
    assert_eq!(s.status, 201, "{}", s.json);
    c.post(
        &format!("{R}/statuses/{head_sha}"),
        json!({ "state": "success", "context": "ci/lint" }),
    )
    .await;
    c.post(
        &format!("{R}/statuses/{head_sha}"),
        json!({ "state": "failure", "context": "ci/test" }),
    )
    .await;
    let combined = c
        .get(&format!("{R}/commits/{head_sha}/status?per_page=100"))
        .await
        .json;
    assert_eq!(combined["state"], "failure");
    assert_eq!(
        combined["total_count"], 2,
        "the latest status of each context"
    );
    assert_eq!(combined["sha"], head_sha.as_str());
    assert_eq!(sim.check_runs(&head_sha)[0].summary, "approved");

    // Permissions and protection.
    let p = c
        .get(&format!("{R}/collaborators/alice/permission"))
        .await
        .json;
    assert_eq!(p["permission"], "write");
    assert_eq!(p["user"]["id"], 5001);
    let p = c
        .get(&format!("{R}/collaborators/mallory/permission"))
        .await
        .json;
    assert_eq!(p["permission"], "none");
    let m = c.get("/orgs/acme/teams/secops/memberships/bob").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.json["state"], "active");
    assert_eq!(
        c.get("/orgs/acme/teams/secops/memberships/alice")
            .await
            .status,
        404
    );
    let rules = c.get(&format!("{R}/rules/branches/main")).await;
    assert_eq!(rules.status, 200);
    assert_eq!(rules.json, json!([]));
    let prot = c.get(&format!("{R}/branches/main/protection")).await;
    assert_eq!(prot.status, 403, "the App has no administration permission");

    // The merge: a stale head sha is refused; then a real merge commit moves main.
    sim.add_ruleset(
        "main",
        Protection {
            required_approvals: 1,
            ..Protection::default()
        },
    );
    let blocked = c
        .call(
            Method::PUT,
            &format!("{R}/pulls/{pr}/merge"),
            Some(json!({ "sha": head_sha, "merge_method": "merge" })),
        )
        .await;
    assert_eq!(blocked.status, 405, "{}", blocked.json);
    sim.review(pr, &User::bob(), "APPROVED", "lgtm").await;
    let reviews = c
        .get(&format!("{R}/pulls/{pr}/reviews?per_page=100"))
        .await
        .json;
    assert_eq!(reviews[0]["state"], "APPROVED");
    assert_eq!(reviews[0]["commit_id"], head_sha.as_str());
    let stale = c
        .call(
            Method::PUT,
            &format!("{R}/pulls/{pr}/merge"),
            Some(json!({ "sha": sibling, "merge_method": "merge" })),
        )
        .await;
    assert_eq!(stale.status, 409);
    let merged = c
        .call(
            Method::PUT,
            &format!("{R}/pulls/{pr}/merge"),
            Some(json!({ "sha": head_sha, "merge_method": "merge" })),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.json);
    assert_eq!(merged.json["merged"], true);
    let merge_sha = merged.json["sha"].as_str().unwrap().to_owned();
    let bare = git2::Repository::open_bare(sim.bare_path()).unwrap();
    let mc = bare
        .find_commit(git2::Oid::from_str(&merge_sha).unwrap())
        .unwrap();
    let parents: Vec<String> = mc.parent_ids().map(|p| p.to_string()).collect();
    assert_eq!(parents, [main_sha.clone(), head_sha.clone()]);
    assert_eq!(
        bare.find_reference("refs/heads/main")
            .unwrap()
            .target()
            .unwrap()
            .to_string(),
        merge_sha
    );
    assert!(
        mc.message()
            .unwrap()
            .starts_with(&format!("Merge pull request #{pr} from acme/{branch}"))
    );
    let after = c.get(&format!("{R}/pulls/{pr}")).await.json;
    assert_eq!(after["state"], "closed");
    assert_eq!(after["merged"], true);
    assert_eq!(after["merge_commit_sha"], merge_sha.as_str());
    assert!(after["merged_at"].is_string());
    let snap = sim.pull(pr);
    assert!(snap.merged);
    assert_eq!(snap.merge_commit_sha.as_deref(), Some(merge_sha.as_str()));
    let commit = c.get(&format!("{R}/git/commits/{merge_sha}")).await.json;
    assert_eq!(commit["parents"].as_array().unwrap().len(), 2);
    assert_eq!(commit["verification"]["verified"], true);
    // main now holds the branch's files; a clone reads them from disk.
    let dir = tempfile::tempdir().unwrap();
    let clone = sim.clone_to(dir.path());
    assert_eq!(
        clone.head().unwrap().target().unwrap().to_string(),
        merge_sha
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("vars/production.yaml")).unwrap(),
        "rotated: yes\n"
    );
    assert!(!dir.path().join("terraform/redis.tf").exists());
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("{R}/git/refs/heads/{branch}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(sim.branch_sha(branch), None);

    // What the calls would have made GitHub send, waiting for `deliver_pending`.
    let pending: Vec<(String, Option<String>)> = sim
        .pending_deliveries()
        .into_iter()
        .map(|d| (d.event, d.action))
        .collect();
    for expected in [
        ("pull_request", Some("opened")),
        ("pull_request", Some("labeled")),
        ("pull_request", Some("review_requested")),
        ("issue_comment", Some("created")),
        ("check_run", Some("completed")),
        ("status", None),
        ("pull_request", Some("closed")),
        ("push", None),
    ] {
        assert!(
            pending
                .iter()
                .any(|(e, a)| e == expected.0 && a.as_deref() == expected.1),
            "{expected:?} in {pending:?}"
        );
    }
    let closed = sim
        .pending_deliveries()
        .into_iter()
        .find(|d| d.event == "pull_request" && d.action.as_deref() == Some("closed"))
        .unwrap()
        .payload();
    assert_eq!(closed["pull_request"]["merged"], true);
    assert_eq!(
        closed["pull_request"]["merge_commit_sha"],
        merge_sha.as_str()
    );
    assert_eq!(closed["sender"]["type"], "Bot");

    // A path GitHub does not have is answered 404 and recorded.
    assert!(sim.unhandled().is_empty(), "{:?}", sim.unhandled());
    assert_eq!(
        c.get(&format!("{R}/pulls/{pr}/merge-status")).await.status,
        404
    );
    assert_eq!(
        sim.unhandled(),
        [format!("GET {R}/pulls/{pr}/merge-status")]
    );
}

#[tokio::test]
async fn faults_answer_like_github() {
    let sim = Sim::start(quiet()).await;
    let c = token(&sim).await;

    // Normal answers carry the rate limit headers and a request id.
    let a = c.get(R).await;
    let b = c.get(R).await;
    assert_eq!(a.header("x-ratelimit-limit").as_deref(), Some("5000"));
    let left = |x: &Answer| {
        x.header("x-ratelimit-remaining")
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert_eq!(left(&a), left(&b) + 1);
    assert!(a.header("x-ratelimit-reset").is_some());
    assert!(a.header("x-github-request-id").is_some());
    assert_ne!(
        a.header("x-github-request-id"),
        b.header("x-github-request-id")
    );

    // A server error, once, on the matching path and method only; nothing happens.
    sim.inject(Fault::new(
        Some(Method::POST),
        "/issues",
        1,
        FaultKind::Status(502),
    ));
    assert_eq!(
        c.get(&format!("{R}/issues")).await.status,
        200,
        "GET is not faulted"
    );
    let failed = c
        .post(
            &format!("{R}/issues"),
            json!({ "title": "dashboard", "body": "x" }),
        )
        .await;
    assert_eq!(failed.status, 502);
    assert_eq!(failed.json["message"], "Bad Gateway");
    assert!(sim.issues().is_empty(), "a faulted request changes nothing");
    let ok = c
        .post(
            &format!("{R}/issues"),
            json!({ "title": "dashboard", "body": "x" }),
        )
        .await;
    assert_eq!(ok.status, 201);
    assert_eq!(sim.issues().len(), 1);

    // Slow: carried out, answered late.
    sim.inject(Fault::new(
        None,
        "/issues",
        1,
        FaultKind::Delay(Duration::from_millis(400)),
    ));
    let started = Instant::now();
    let slow = c
        .post(&format!("{R}/issues"), json!({ "title": "second" }))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(slow.status, 201);
    assert_eq!(sim.issues().len(), 2);
    // A client that gives up first does not see the answer.
    sim.inject(Fault::new(
        None,
        "/issues",
        1,
        FaultKind::Delay(Duration::from_millis(800)),
    ));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let timed_out = impatient
        .get(format!("{}{R}/issues", sim.url()))
        .header("User-Agent", "keyroll-sim-selftest/0.1")
        .header("Authorization", c.auth.clone().unwrap())
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    // GitHub's own timeout: nothing happens, 502 after the wait.
    sim.inject(Fault::new(
        None,
        "/issues",
        1,
        FaultKind::Timeout(Duration::from_millis(100)),
    ));
    let t = c
        .post(&format!("{R}/issues"), json!({ "title": "third" }))
        .await;
    assert_eq!(t.status, 502);
    assert_eq!(sim.issues().len(), 2);

    // Rate limits.
    sim.inject(Fault::new(
        None,
        "/pulls",
        1,
        FaultKind::TooManyRequests {
            retry_after_secs: 7,
        },
    ));
    let r = c.get(&format!("{R}/pulls")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    sim.inject(Fault::new(
        None,
        "/pulls",
        1,
        FaultKind::SecondaryRateLimit {
            retry_after_secs: 3,
        },
    ));
    let r = c.get(&format!("{R}/pulls")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("retry-after").as_deref(), Some("3"));
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("You have exceeded a secondary rate limit")
    );
    sim.inject(Fault::new(
        None,
        "/pulls",
        1,
        FaultKind::PrimaryRateLimit { reset_in_secs: 30 },
    ));
    let r = c.get(&format!("{R}/pulls")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now + 25..=now + 35).contains(&reset), "{reset} vs {now}");
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("rate limit exceeded")
    );
    sim.inject(Fault::new(None, "/pulls", 1, FaultKind::Forbidden));
    let r = c.get(&format!("{R}/pulls")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json["message"], "Resource not accessible by integration");
    assert!(r.header("retry-after").is_none());
    assert_eq!(
        c.get(&format!("{R}/pulls")).await.status,
        200,
        "faults are used up"
    );
    assert!(sim.faults_left().is_empty());

    // A permission the installation lacks: statuses are read-only for this App.
    let sha = sim.branch_sha("main").unwrap();
    let r = c
        .post(
            &format!("{R}/statuses/{sha}"),
            json!({ "state": "success", "context": "x" }),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-accepted-github-permissions").as_deref(),
        Some("statuses=write")
    );

    // The real budget runs out too.
    sim.set_rate_limit_remaining(0);
    let r = c.get(R).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));

    // Every request was logged, faulted ones too.
    let logged = sim.requests();
    assert!(logged.iter().any(|l| l.status == 502));
    assert!(logged.iter().any(|l| l.status == 429));
    assert!(logged.iter().all(|l| {
        l.headers
            .get("authorization")
            .is_none_or(|a| a == "[redacted]")
    }));
}

/// What the test's webhook receiver got.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Received>>>);

/// One delivery as received: headers and the exact body.
type Received = (http::HeaderMap, Vec<u8>);

impl Inbox {
    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// A webhook receiver on a real socket, answering 202.
async fn receiver() -> (String, Inbox) {
    let inbox = Inbox::default();
    let kept = inbox.clone();
    let app = axum::Router::new().route(
        "/webhook",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.0.lock().unwrap().push((headers, body.to_vec()));
                http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/webhook"), inbox)
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Checks a received delivery like keyroll's intake does; its event, payload and parse.
fn check(received: &Received) -> (String, Value, keyroll::github::webhook::Delivery) {
    let (h, body) = received;
    let secrets = Secrets::from_list(SECRET).unwrap();
    secrets
        .verify(Some(header(h, "x-hub-signature-256")), body)
        .expect("the signature matches the body");
    assert_eq!(header(h, "content-type"), "application/json");
    assert!(header(h, "user-agent").starts_with("GitHub-Hookshot/"));
    assert_eq!(
        header(h, "x-github-hook-installation-target-type"),
        "integration"
    );
    assert_eq!(header(h, "x-github-hook-installation-target-id"), "1234");
    assert!(header(h, "x-github-hook-id").parse::<u64>().is_ok());
    let guid = header(h, "x-github-delivery");
    assert_eq!(guid.len(), 36, "{guid}");
    let event = header(h, "x-github-event").to_owned();
    let payload: Value = serde_json::from_slice(body).unwrap();
    if event.starts_with("installation") {
        // About the installation: no `repository`, the repositories it covers instead.
        assert!(payload.get("repository").is_none());
        assert_eq!(
            payload["repositories_added"][0]["full_name"],
            "acme/credentials"
        );
    } else {
        assert_eq!(payload["repository"]["id"], 4242);
        assert_eq!(payload["repository"]["full_name"], "acme/credentials");
    }
    assert_eq!(payload["installation"]["id"], 77);
    let parsed = parse(&event, body)
        .unwrap_or_else(|e| panic!("keyroll cannot parse the {event} delivery: {e}"))
        .unwrap_or_else(|| panic!("keyroll ignores {event}"));
    assert_eq!(parsed.context.installation_id, Some(77));
    (event, payload, parsed)
}

/// The example payload GitHub's docs give for an event (to compare untouched fields).
fn example(event: &str, action: Option<&str>) -> Value {
    let path = std::env::var_os("KEYROLL_TEST_WEBHOOK_EXAMPLES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::cache_dir().join("webhooks-examples-7.6.1/index.json"));
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entry = all.iter().find(|e| e["name"] == event).unwrap();
    let list = entry["examples"].as_array().unwrap();
    action
        .and_then(|a| list.iter().find(|x| x["action"] == a))
        .unwrap_or(&list[0])
        .clone()
}

#[tokio::test]
async fn webhooks_reach_a_socket_signed_and_real() {
    let (url, inbox) = receiver().await;
    let options = SimOptions {
        webhook_url: Some(url),
        ..quiet()
    };
    let sim = Sim::start(options).await;
    let c = token(&sim).await;
    let alice = User::alice();

    // keyroll opens a pull request through the API: GitHub's `opened` waits until delivered.
    let branch = "keyroll/db/R-2026-0002/add";
    let head = sim
        .push_to_branch(branch, &[("vars/production.yaml", "a: 1\n")], &User::bob())
        .await;
    inbox.take();
    let pr = c
        .post(
            &format!("{R}/pulls"),
            json!({ "title": "Rotate", "head": branch, "base": "main", "body": "x" }),
        )
        .await
        .json["number"]
        .as_u64()
        .unwrap();
    assert!(
        inbox.take().is_empty(),
        "API deliveries wait for deliver_pending"
    );
    assert_eq!(sim.deliver_pending().await, [202]);
    let got = inbox.take();
    assert_eq!(got.len(), 1);
    let (event, payload, parsed) = check(&got[0]);
    assert_eq!(event, "pull_request");
    assert_eq!(payload["action"], "opened");
    assert_eq!(payload["number"], pr);
    assert_eq!(payload["sender"]["login"], "keyroll[bot]");
    assert_eq!(payload["sender"]["type"], "Bot");
    match parsed.event {
        Event::PullRequest {
            number,
            head_ref,
            head_sha,
            merged,
            ..
        } => {
            assert_eq!(
                (number, head_ref.as_str(), head_sha.as_str(), merged),
                (pr, branch, head.as_str(), false)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(parsed.context.sender.unwrap().is_bot);
    // Only the scenario's fields changed: the example's other fields are still there.
    let ex = example("pull_request", Some("opened"));
    for key in ex.as_object().unwrap().keys() {
        assert!(payload.get(key).is_some(), "top-level {key} kept");
    }
    for key in ex["pull_request"].as_object().unwrap().keys() {
        assert!(
            payload["pull_request"].get(key).is_some(),
            "pull_request.{key} kept"
        );
    }
    assert_eq!(
        payload["repository"]["forks_url"],
        ex["repository"]["forks_url"]
    );
    assert_eq!(
        payload["pull_request"]["_links"],
        ex["pull_request"]["_links"]
    );

    // A person pushes to the branch: push, then synchronize.
    let pushed = sim
        .push_to_branch(branch, &[("vars/other.yaml", "b: 2\n")], &alice)
        .await;
    let got = inbox.take();
    let events: Vec<(String, Value, _)> = got.iter().map(check).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, "push");
    assert_eq!(events[0].1["ref"], format!("refs/heads/{branch}").as_str());
    assert_eq!(events[0].1["before"], head.as_str());
    assert_eq!(events[0].1["after"], pushed.as_str());
    assert_eq!(
        events[0].1["commits"][0]["added"],
        json!(["vars/other.yaml"])
    );
    assert_eq!(events[1].0, "pull_request");
    assert_eq!(events[1].1["action"], "synchronize");
    assert_eq!(events[1].1["before"], head.as_str());
    assert_eq!(events[1].1["after"], pushed.as_str());
    assert_eq!(events[1].1["sender"]["login"], "alice");
    assert_eq!(events[1].1["sender"]["type"], "User");
    assert_eq!(events[1].1["pull_request"]["head"]["sha"], pushed.as_str());

    // Comments: on the pull request (with `issue.pull_request`), edited, on an issue.
    let id = sim.comment(pr, &alice, "/keyroll status").await;
    let got = inbox.take();
    let (event, payload, parsed) = check(&got[0]);
    assert_eq!(event, "issue_comment");
    assert_eq!(payload["comment"]["id"], id);
    assert!(payload["issue"]["pull_request"].is_object());
    match parsed.event {
        Event::IssueComment {
            on_pull_request,
            body,
            author,
            issue_number,
            ..
        } => {
            assert!(on_pull_request);
            assert_eq!(body, "/keyroll status");
            assert_eq!(author.id, 5001);
            assert_eq!(issue_number, pr);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.edit_comment(id, &alice, "/keyroll abort").await, 202);
    let (_, payload, _) = check(&inbox.take()[0]);
    assert_eq!(payload["action"], "edited");
    assert_eq!(payload["changes"]["body"]["from"], "/keyroll status");
    assert_eq!(payload["comment"]["body"], "/keyroll abort");
    let issue = c
        .post(
            &format!("{R}/issues"),
            json!({ "title": "dashboard", "body": "d" }),
        )
        .await
        .json["number"]
        .as_u64()
        .unwrap();
    sim.comment(issue, &alice, "hello").await;
    let (_, payload, _) = check(&inbox.take()[0]);
    assert!(payload["issue"].get("pull_request").is_none());

    // A review: lower-case state in the webhook, on the head commit.
    assert_eq!(sim.review(pr, &User::bob(), "APPROVED", "ok").await, 202);
    let (event, payload, parsed) = check(&inbox.take()[0]);
    assert_eq!(event, "pull_request_review");
    assert_eq!(payload["review"]["state"], "approved");
    assert_eq!(payload["review"]["commit_id"], pushed.as_str());
    assert!(matches!(parsed.event, Event::PullRequestReview { number, .. } if number == pr));

    // The merge by a person: closed + merged with the merge commit, then the push to main.
    let merge = sim.merge_pull(pr, &alice).await;
    let got = inbox.take();
    assert_eq!(got.len(), 2);
    let (event, payload, parsed) = check(&got[0]);
    assert_eq!(event, "pull_request");
    assert_eq!(payload["action"], "closed");
    assert_eq!(payload["pull_request"]["merged"], true);
    assert_eq!(payload["pull_request"]["merge_commit_sha"], merge.as_str());
    assert_eq!(payload["pull_request"]["merged_by"]["login"], "alice");
    assert_eq!(payload["sender"]["login"], "alice");
    assert!(matches!(
        parsed.event,
        Event::PullRequest { merged: true, .. }
    ));
    let (event, payload, _) = check(&got[1]);
    assert_eq!(event, "push");
    assert_eq!(payload["ref"], "refs/heads/main");
    assert_eq!(payload["after"], merge.as_str());
    assert_eq!(sim.branch_sha("main").as_deref(), Some(merge.as_str()));
    let bare = git2::Repository::open_bare(sim.bare_path()).unwrap();
    let mc = bare
        .find_commit(git2::Oid::from_str(&merge).unwrap())
        .unwrap();
    assert_eq!(mc.parent_count(), 2);

    // CI on the merge commit: a check run of another App, a status, a deployment.
    let run = sim
        .complete_check_run(&merge, "deploy-data-api", "success")
        .await;
    let (event, payload, parsed) = check(&inbox.take()[0]);
    assert_eq!(event, "check_run");
    assert_eq!(payload["action"], "completed");
    assert_eq!(payload["check_run"]["id"], run);
    assert_eq!(payload["check_run"]["app"]["slug"], "deploy-bot");
    assert_eq!(
        payload["check_run"]["check_suite"]["head_sha"],
        merge.as_str()
    );
    match parsed.event {
        Event::CheckRun {
            name,
            head_sha,
            conclusion,
            ..
        } => {
            assert_eq!(name, "deploy-data-api");
            assert_eq!(head_sha, merge);
            assert_eq!(conclusion.as_deref(), Some("success"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.set_status(&merge, "deploy/search-api", "success").await,
        202
    );
    let (_, payload, parsed) = check(&inbox.take()[0]);
    assert_eq!(payload["sha"], merge.as_str());
    assert_eq!(payload["branches"][0]["name"], "main");
    assert!(matches!(parsed.event, Event::Status { ref state, .. } if state == "success"));
    assert_eq!(
        sim.deployment_status(&merge, "production", "success").await,
        202
    );
    let (_, payload, parsed) = check(&inbox.take()[0]);
    assert_eq!(payload["deployment"]["sha"], merge.as_str());
    match parsed.event {
        Event::DeploymentStatus {
            sha,
            environment,
            state,
            ..
        } => assert_eq!(
            (sha.as_str(), environment.as_deref(), state.as_str()),
            (merge.as_str(), Some("production"), "success")
        ),
        other => panic!("{other:?}"),
    }

    // Lost, duplicated and redelivered deliveries.
    sim.drop_next_webhooks(1);
    assert_eq!(sim.set_status(&merge, "ci", "pending").await, 0);
    assert!(inbox.take().is_empty(), "a dropped delivery is never sent");
    let lost = sim.last_delivery().unwrap();
    assert!(lost.dropped);
    assert_eq!(sim.redeliver(&lost.guid).await, 202);
    let got = inbox.take();
    assert_eq!(got.len(), 1);
    assert_eq!(header(&got[0].0, "x-github-delivery"), lost.guid);
    assert_eq!(got[0].1, lost.body, "a redelivery repeats the same bytes");
    sim.duplicate_next_webhooks(1);
    sim.set_status(&merge, "ci", "success").await;
    let got = inbox.take();
    assert_eq!(got.len(), 2);
    assert_eq!(
        header(&got[0].0, "x-github-delivery"),
        header(&got[1].0, "x-github-delivery")
    );
    assert_eq!(sim.last_delivery().unwrap().attempts, [202, 202]);

    // A raw delivery from a real example with the scenario's fields.
    let ping = sim.payload("installation_repositories", Some("added"), &alice);
    assert_eq!(
        sim.send_webhook("installation_repositories", &ping).await,
        202
    );
    let (event, _, _) = check(&inbox.take()[0]);
    assert_eq!(event, "installation_repositories");

    // A receiver that is down: the delivery fails (GitHub does not retry).
    sim.set_webhook_target("http://127.0.0.1:9/webhook", SECRET);
    assert_eq!(
        sim.comment(pr, &alice, "anyone?").await,
        sim.comments(pr).last().unwrap().id
    );
    assert_eq!(sim.last_delivery().unwrap().attempts, [0]);
    assert!(sim.unhandled().is_empty(), "{:?}", sim.unhandled());
}

#[tokio::test]
async fn the_request_log_gets_a_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let sim = Sim::start(SimOptions {
        request_log: Some(path.clone()),
        ..SimOptions::default()
    })
    .await;
    let c = token(&sim).await;
    let marker = format!("log-marker-{}", std::process::id());
    let created = c
        .post(
            &format!("{R}/issues"),
            json!({ "title": marker, "body": "x" }),
        )
        .await;
    assert_eq!(created.status, 201);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(&marker))
        .expect("the request is in the log");
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/repos/acme/credentials/issues");
    assert_eq!(v["body"]["title"], marker.as_str());
    assert_eq!(v["headers"]["authorization"], "[redacted]");
    assert_eq!(v["headers"]["user-agent"], "keyroll-sim-selftest/0.1");
    assert!(v["query"].is_object());
    let tokens_line = text
        .lines()
        .rfind(|l| l.contains("/access_tokens"))
        .unwrap();
    assert!(!tokens_line.contains("eyJ"), "no JWT in the log");
    assert_eq!(sim.requests().len(), 2);
}
