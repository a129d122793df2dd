-- Cubby kiosk store, version 1. Never edit a released migration: add a new file.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The hub's records as merged across syncs (one JSON document), replaced atomically.
CREATE TABLE roster_source (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    json      TEXT NOT NULL,
    cursor    TEXT NOT NULL,
    synced_at TEXT NOT NULL
);

-- What each record was after the last sync, to count added/updated/archived/unchanged.
CREATE TABLE roster_state (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    active INTEGER NOT NULL,
    hash   TEXT NOT NULL,
    name   TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (kind, id)
);

CREATE TABLE sync_reports (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   TEXT NOT NULL,
    json TEXT NOT NULL
);

-- Every attendance event this kiosk knows: its own ('local') and other doors' ('peer').
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    origin       TEXT NOT NULL CHECK (origin IN ('local', 'peer')),
    type         TEXT NOT NULL,
    child_id     TEXT,
    staff_id     TEXT,
    occurred_utc TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    json         TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (occurred_utc);

-- Local events not yet confirmed by the hub. Same seq as the event: oldest first.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE REFERENCES events (event_id),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    last_attempt_at TEXT,
    parked_reason   TEXT,
    parked_at       TEXT
);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);
