-- Cubby kiosk store, version 4: dismissed events. Never edit a released migration.

-- When staff dismissed an event the hub refused (parked): it stays in the history but no
-- longer counts anywhere (presence, ratios, roll call, auto sign-out, exports).
ALTER TABLE events ADD COLUMN dismissed_at TEXT;
