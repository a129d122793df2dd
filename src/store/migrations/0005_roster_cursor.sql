-- The hub's roster cursor and the last sync time in a row of their own, apart from the
-- (large) cached roster JSON: a sync that changes nothing moves the cursor without
-- rewriting the cache. roster_source.cursor and synced_at stay what they were when its
-- JSON was last written.
CREATE TABLE roster_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    cursor    TEXT NOT NULL,
    synced_at TEXT NOT NULL
);
INSERT INTO roster_cursor (id, cursor, synced_at)
    SELECT 1, cursor, synced_at FROM roster_source WHERE id = 1;
