-- Each save carries a key of its own, so that a save retried after its
-- outcome was lost (the connection broke during COMMIT) finds its own
-- revision instead of reporting a conflict with itself.
ALTER TABLE revisions ADD COLUMN edit_key TEXT;
CREATE UNIQUE INDEX revisions_by_edit_key ON revisions (edit_key);
