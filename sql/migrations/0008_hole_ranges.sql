-- Holes as id ranges: one VOPI transaction may insert any number of events, and a gap of
-- any size must be tracked (never skipped as a "sequence jump"), so a hole row covers
-- first_id..last_id and shrinks or splits as its rows appear. Runs with search_path = OBVO's
-- schema.

CREATE TABLE pending_hole_ranges (
    source          text NOT NULL,
    first_id        bigint NOT NULL,
    last_id         bigint NOT NULL,
    first_seen_at   timestamptz NOT NULL,
    -- VOPI's pg_snapshot_xmax(pg_current_snapshot()) when first seen: every transaction that
    -- could have drawn these ids has an xid below it (or none yet, see pg_stat_activity).
    first_seen_xmax bigint,
    PRIMARY KEY (source, first_id),
    CHECK (first_id <= last_id)
);

-- Existing one-id rows: consecutive ids first seen together become one range.
INSERT INTO pending_hole_ranges (source, first_id, last_id, first_seen_at, first_seen_xmax)
SELECT source, min(event_id), max(event_id), first_seen_at, first_seen_xmax
FROM (
    SELECT h.*, h.event_id - row_number() OVER (
               PARTITION BY h.source, h.first_seen_at, h.first_seen_xmax ORDER BY h.event_id
           ) AS island
    FROM pending_holes AS h
) AS numbered
GROUP BY source, first_seen_at, first_seen_xmax, island;

DROP TABLE pending_holes;
ALTER TABLE pending_hole_ranges RENAME TO pending_holes;
ALTER TABLE pending_holes RENAME CONSTRAINT pending_hole_ranges_pkey TO pending_holes_pkey;
