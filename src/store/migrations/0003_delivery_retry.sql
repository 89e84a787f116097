-- Deliveries are read per repository ("lane"), in arrival order within it, and a delivery
-- whose handling failed for a passing reason (GitHub unreachable, rate limited) stays here
-- to be tried again. After too many attempts it is parked: kept, counted, tried again when
-- an operator asks or at the next start. Nothing is dropped.
ALTER TABLE webhooks ADD COLUMN lane TEXT;          -- repository full name; '' for none; NULL until first read
ALTER TABLE webhooks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN retry_at TEXT;      -- not tried again before this
ALTER TABLE webhooks ADD COLUMN parked_at TEXT;
ALTER TABLE webhooks ADD COLUMN last_error TEXT;    -- why the last attempt failed (no body text)
CREATE INDEX webhooks_by_lane ON webhooks (lane, processed_at, seq);

-- What came of a command, kept so a delivery handled again (after a failure or a crash)
-- does not run the command twice nor say its answer twice.
CREATE TABLE command_results (
    delivery_id TEXT    PRIMARY KEY,
    ok          INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    reply       TEXT,                             -- what keyroll answers; never a value
    replied_at  TEXT,
    at          TEXT    NOT NULL
);
