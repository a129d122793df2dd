-- Cubby kiosk store, version 3: fingerprint slots. Never edit a released migration.

-- Which person a template slot of the fingerprint sensor belongs to. The templates live
-- only in the sensor's flash; the kiosk keeps the slot number, who it is (a family person
-- or a staff member, ids from the hub) and when consent was recorded.
CREATE TABLE fingerprints (
    slot        INTEGER PRIMARY KEY CHECK (slot >= 0 AND slot < 65536),
    person_kind TEXT NOT NULL CHECK (person_kind IN ('person', 'staff')),
    person_id   TEXT NOT NULL,
    consent_at  TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
CREATE INDEX fingerprints_by_person ON fingerprints (person_id);
