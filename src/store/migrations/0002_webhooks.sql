-- Webhook deliveries as they arrived, before anything reads them: intake stores the verified
-- body and answers at once; the worker parses and routes it later. A redelivery (same
-- X-GitHub-Delivery) is dropped by the unique key. The body is cleared once processed.
CREATE TABLE webhooks (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL UNIQUE,
    event        TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    body         BLOB,
    processed_at TEXT,
    outcome      TEXT
);
CREATE INDEX webhooks_pending ON webhooks (processed_at, seq);

-- Repositories keyroll is installed on, and through which installation it reaches them.
CREATE TABLE installations (
    repository      TEXT    PRIMARY KEY,
    installation_id INTEGER NOT NULL,
    updated_at      TEXT    NOT NULL
);

-- What keyroll last found wrong with a repository's .keyroll.yaml on its default branch
-- (NULL: valid). While set, no rotation starts there.
CREATE TABLE config_status (
    repository TEXT PRIMARY KEY,
    head_sha   TEXT NOT NULL,
    problems   TEXT,
    checked_at TEXT NOT NULL
);

-- Every /keyroll command keyroll read (run, refused or invalid), with the comment it came
-- from: the audit of what people asked for, including what changed nothing.
CREATE TABLE commands (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    rotation_id TEXT,
    comment_id  INTEGER NOT NULL,
    comment_url TEXT,
    actor_id    INTEGER NOT NULL,
    actor_login TEXT    NOT NULL,
    command     TEXT    NOT NULL,
    outcome     TEXT    NOT NULL
);
CREATE INDEX commands_by_comment ON commands (comment_id);
CREATE TRIGGER commands_are_append_only_update BEFORE UPDATE ON commands
BEGIN SELECT RAISE(ABORT, 'the command log is append-only'); END;
CREATE TRIGGER commands_are_append_only_delete BEFORE DELETE ON commands
BEGIN SELECT RAISE(ABORT, 'the command log is append-only'); END;

-- The dashboard issue keyroll keeps in each repository, and what it last wrote there.
CREATE TABLE dashboards (
    repository   TEXT    PRIMARY KEY,
    issue_number INTEGER NOT NULL,
    body_sha256  TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
