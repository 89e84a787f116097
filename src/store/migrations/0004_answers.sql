-- What keyroll says back to a command (reactions, replies), written in the transaction that
-- records the command's result and carried out afterwards, each once by its key: a crash
-- between the commit and the post posts on the next attempt, and only once (a reply carries
-- its key hidden and is found again; GitHub keeps one reaction of a kind per account).
-- Not in `effects`: those belong to a rotation's step, and most commands have no rotation.
CREATE TABLE answers (
    key         TEXT    PRIMARY KEY,          -- "<delivery>/answer/<n>"
    delivery_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    answer      TEXT    NOT NULL,             -- JSON of store::Answer; never a value
    created_at  TEXT    NOT NULL,
    done_at     TEXT,
    receipt     TEXT
);
CREATE INDEX answers_by_delivery ON answers (delivery_id, done_at, seq);
