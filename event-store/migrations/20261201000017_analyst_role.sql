-- Analysts read the read models and nothing else: the group role `k911_analyst`. It has no login:
-- the operator gives one to a person (`CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE
-- k911_analyst`). Its SELECT on the tables of `read` is granted at every start by the role that
-- runs k911, which creates those tables (`Database::migrate`). The event log, credentials and the
-- other tables of `public` stay out of its reach. Roles belong to the whole server, so one that
-- exists already (another database of the same server) is kept as it is.
DO $$
BEGIN
    CREATE ROLE k911_analyst NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT USAGE ON SCHEMA read TO k911_analyst;
