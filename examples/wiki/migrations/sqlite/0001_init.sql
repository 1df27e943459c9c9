-- The wiki's first schema. Times are Unix seconds.

-- Every saved version of every page; ids grow across the whole wiki, so the
-- largest id says when anything last changed.
CREATE TABLE revisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    author     TEXT    NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX revisions_by_title ON revisions (title, id);

-- One row per page, pointing at its latest revision.
CREATE TABLE pages (
    title  TEXT    PRIMARY KEY,
    rev_id INTEGER NOT NULL REFERENCES revisions (id)
);

-- Sessions live here, not in memory, so any instance serves any user.
-- token_hash is the SHA-256 of the cookie value: a copy of the database
-- does not hand out live sessions.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    username   TEXT    NOT NULL,
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Uploaded files by name. The bytes live in $WIKI_DATA/uploads under their
-- SHA-256, so a file on disk is never overwritten and names never reach the
-- file system.
CREATE TABLE files (
    name         TEXT    PRIMARY KEY,
    sha256       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    uploaded_by  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);
