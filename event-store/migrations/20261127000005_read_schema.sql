-- The schema of the read models. Projectors create their own tables in it (and drop them on a
-- rebuild); creating the schema here keeps concurrent projectors from racing to create it.
CREATE SCHEMA IF NOT EXISTS read;
