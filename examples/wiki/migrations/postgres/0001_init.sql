-- The wiki's first schema, as in the SQLite one. Times are Unix seconds.
-- Titles and names sort by their bytes (COLLATE "C"), as SQLite sorts
-- them, whatever the database's locale.

-- Every saved version of every page; ids grow across the whole wiki, so the
-- largest id says when anything last changed.
CREATE TABLE revisions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      TEXT COLLATE "C" NOT NULL,
    body       TEXT   NOT NULL,
    author     TEXT   NOT NULL,
    comment    TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX revisions_by_title ON revisions (title, id);

-- One row per page, pointing at its latest revision.
CREATE TABLE pages (
    title  TEXT COLLATE "C" PRIMARY KEY,
    rev_id BIGINT NOT NULL REFERENCES revisions (id)
);

-- Sessions live here, not in memory, so any instance serves any user.
-- token_hash is the SHA-256 of the cookie value: a copy of the database
-- does not hand out live sessions.
CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,
    username   TEXT   NOT NULL,
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Uploaded files by name. The bytes live in $WIKI_DATA/uploads under their
-- SHA-256, so a file on disk is never overwritten and names never reach the
-- file system.
CREATE TABLE files (
    name         TEXT COLLATE "C" PRIMARY KEY,
    sha256       TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    uploaded_by  TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
