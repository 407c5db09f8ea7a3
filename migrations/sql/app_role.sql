-- The PostgreSQL role the portal runs as: full DML (SELECT, INSERT, UPDATE, DELETE) on
-- every table, except the audit trail's (audit_event, audit_seal, audit_checkpoint) and the
-- deletion receipts (retention_receipt), which
-- it may only INSERT into and SELECT from: it can append to the audit trail, never change
-- or remove what is there (no UPDATE, DELETE or TRUNCATE). Sequences: USAGE and SELECT.
--
-- Run it as the owner of the tables (the role that runs `flask --app wsgi db upgrade`),
-- after every upgrade (new tables need their grants; it is idempotent), with the app's
-- role name in the setting portal.app_role:
--
--   PGOPTIONS="-c portal.app_role=portal_app" \
--       psql "postgresql://owner@db/portal" -v ON_ERROR_STOP=1 -f migrations/sql/app_role.sql
--
-- or: flask --app wsgi db grant-app-role portal_app   (runs this file). The role must
-- exist (CREATE ROLE portal_app LOGIN PASSWORD '...') and must not own the tables (an
-- owner may do anything to its tables, whatever is granted).
DO $$
DECLARE
    app_role text := current_setting('portal.app_role');
    audit_tables text[] := ARRAY['audit_event', 'audit_seal', 'audit_checkpoint', 'retention_receipt'];
    item record;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = app_role
    ) THEN
        RAISE EXCEPTION 'role % owns tables of the portal: run the migrations as another role', app_role;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app_role);
    FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('REVOKE ALL ON TABLE public.%I FROM %I', item.tablename, app_role);
        IF item.tablename = ANY (audit_tables) THEN
            EXECUTE format('GRANT SELECT, INSERT ON TABLE public.%I TO %I', item.tablename, app_role);
        ELSIF item.tablename = 'alembic_version' THEN
            EXECUTE format('GRANT SELECT ON TABLE public.%I TO %I', item.tablename, app_role);
        ELSE
            EXECUTE format(
                'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.%I TO %I',
                item.tablename, app_role
            );
        END IF;
    END LOOP;
    FOR item IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
        EXECUTE format('REVOKE ALL ON SEQUENCE public.%I FROM %I', item.sequencename, app_role);
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE public.%I TO %I', item.sequencename, app_role);
    END LOOP;
END
$$;
