-- Cubby kiosk store, version 2: center operations. Never edit a released migration.

-- The last ratio state written to the audit log per room, so each change of a room's
-- state (ok / near / over) is audited exactly once, also across restarts.
CREATE TABLE ratio_state (
    room_id  TEXT PRIMARY KEY,
    state    TEXT NOT NULL CHECK (state IN ('ok', 'near', 'over')),
    children INTEGER NOT NULL,
    staff    INTEGER NOT NULL,
    since    TEXT NOT NULL
);
