-- Files of the public "Documents" section, stored once by content. The Document aggregate's
-- events name a file by its SHA-256; the bytes live here because events should stay small.
CREATE TABLE document_files
(
    sha256       bytea PRIMARY KEY,
    content_type text        NOT NULL,
    bytes        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
