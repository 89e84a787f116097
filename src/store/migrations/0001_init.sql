-- keyroll's state. No table ever holds a plaintext value: rotations, inputs and effects
-- carry ids, numbers, names and fingerprints only.

-- The inbox: every input, once (a redelivered webhook has the same delivery id).
CREATE TABLE deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL UNIQUE,
    repository   TEXT    NOT NULL,
    rotation_id  TEXT    NOT NULL,
    input        TEXT    NOT NULL,            -- JSON of engine::Input
    received_at  TEXT    NOT NULL,
    processed_at TEXT
);
CREATE INDEX deliveries_pending ON deliveries (repository, processed_at, seq);

-- One row per rotation; `version` fences concurrent writers.
CREATE TABLE rotations (
    id          TEXT    PRIMARY KEY,
    repository  TEXT    NOT NULL,
    credential  TEXT    NOT NULL,
    phase       TEXT    NOT NULL,
    state       TEXT    NOT NULL,             -- JSON of engine::Rotation
    version     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    finished_at TEXT
);
CREATE INDEX rotations_by_credential ON rotations (repository, credential);

-- The outbox: each effect once, by idempotency key, with its receipt when carried out.
CREATE TABLE effects (
    key         TEXT    PRIMARY KEY,
    rotation_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    effect      TEXT    NOT NULL,             -- JSON of engine::Effect
    created_at  TEXT    NOT NULL,
    done_at     TEXT,
    receipt     TEXT
);
CREATE INDEX effects_pending ON effects (rotation_id, done_at, seq);

-- Append-only: who did what, when, and what it changed.
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    rotation_id  TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    input        TEXT    NOT NULL,
    phase_before TEXT    NOT NULL,
    phase_after  TEXT    NOT NULL
);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Who holds a credential or a file: one rotation at a time.
CREATE TABLE locks (
    scope       TEXT    PRIMARY KEY,          -- "credential:<repo>:<name>" or "file:<repo>:<path>"
    rotation_id TEXT    NOT NULL,
    taken_at    TEXT    NOT NULL
);
