-- Every instance keeps a short-lived cache of access tokens, applications, users and
-- their groups (src/store/front.rs). A change to any of them, by any instance or tool,
-- notifies channel `portcullis_changes` when its transaction commits, and every
-- instance listening drops its cache. One notification per statement, not per row;
-- PostgreSQL folds identical notifications of one transaction into one. New rows need
-- none: nothing absent is cached, except a user's group list, hence INSERT on
-- user_groups.
CREATE FUNCTION portcullis_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER access_tokens_changed AFTER UPDATE OR DELETE ON access_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER applications_changed AFTER UPDATE OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER groups_changed AFTER UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
CREATE TRIGGER user_groups_changed AFTER INSERT OR UPDATE OR DELETE ON user_groups
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change();
