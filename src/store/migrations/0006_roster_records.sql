-- Cubby kiosk store, version 6: the cached roster one row per record. Never edit a
-- released migration.

-- The hub's records as merged across syncs, one row each (the center under id ''): a
-- sync writes only the records it changed. Replaces roster_source's single document.
CREATE TABLE roster_record (
    kind TEXT NOT NULL CHECK (kind IN ('center', 'room', 'staff', 'family')),
    id   TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;

INSERT INTO roster_record (kind, id, json)
    SELECT 'center', '', json_extract(json, '$.center') FROM roster_source
     WHERE json_type(json, '$.center') = 'object';
INSERT INTO roster_record (kind, id, json)
    SELECT 'room', e.key, e.value FROM roster_source, json_each(roster_source.json, '$.rooms') e;
INSERT INTO roster_record (kind, id, json)
    SELECT 'staff', e.key, e.value FROM roster_source, json_each(roster_source.json, '$.staff') e;
INSERT INTO roster_record (kind, id, json)
    SELECT 'family', e.key, e.value
      FROM roster_source, json_each(roster_source.json, '$.families') e;

DROP TABLE roster_source;
