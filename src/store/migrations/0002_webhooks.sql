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
