-- Read-only BI logins (`analytics bi-login create|drop`). The password reaches the server only as
-- a bind parameter of these functions, never in a statement the client sends or logs.
CREATE FUNCTION core.create_bi_login(login text, project text, password text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, core
AS $$
BEGIN
    IF login !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'login name "%" must be lower-case letters, digits and _ (at most 63, not starting with a digit)', login
            USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM core.projects WHERE project_id = project) THEN
        RAISE EXCEPTION 'project "%" is not in core.projects (run analytics config apply first)', project USING ERRCODE = '22023';
    END IF;
    IF length(password) < 12 THEN
        RAISE EXCEPTION 'the password must have at least 12 characters' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        RAISE EXCEPTION 'a role named "%" exists already', login USING ERRCODE = '42710';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION', login);
    -- The password goes in a statement of its own whose failure is re-raised without the
    -- statement: an error's context would otherwise carry the password to the client and the
    -- server log.
    BEGIN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', login, password);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'setting the password of "%" failed: %', login, SQLERRM USING ERRCODE = SQLSTATE;
    END;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), login);
    -- The views are security_invoker: their reader needs the report tables too, which
    -- row-level security filters to the login's project.
    EXECUTE format('GRANT USAGE ON SCHEMA mart, report, core TO %I', login);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA mart, report TO %I', login);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA mart, report GRANT SELECT ON TABLES TO %I', login);
    INSERT INTO core.bi_logins (role_name, project_id) VALUES (login, project);
END
$$;
COMMENT ON FUNCTION core.create_bi_login(text, text, text) IS 'Creates a read-only login that reads the mart of one project (row-level security).';

CREATE FUNCTION core.drop_bi_login(login text) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, core
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM core.bi_logins WHERE role_name = login) THEN
        RETURN false;
    END IF;
    DELETE FROM core.bi_logins WHERE role_name = login;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA mart, report REVOKE SELECT ON TABLES FROM %I', login);
    EXECUTE format('DROP OWNED BY %I', login);
    EXECUTE format('DROP ROLE %I', login);
    RETURN true;
END
$$;
COMMENT ON FUNCTION core.drop_bi_login(text) IS 'Drops a BI login made by core.create_bi_login (only those).';

REVOKE EXECUTE ON FUNCTION core.create_bi_login(text, text, text), core.drop_bi_login(text) FROM PUBLIC;
