-- The audit log: security events (logins, consents, issuance, revocation, admin
-- changes), appended and never updated. No secret, token, code or password goes here,
-- not even hashed: an event says who, which client, from where and what, in words.
-- No foreign keys: the history of a deleted user or application stays as it was.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,     -- never reused: pages list by id
    occurred_at BIGINT NOT NULL,
    kind TEXT NOT NULL,                       -- one of store::AuditKind's names
    user_id BIGINT,                           -- who acted (or whose account was tried)
    client_id TEXT,                           -- the application's client id
    client_addr TEXT,                         -- the request's address, if there was one
    detail TEXT NOT NULL DEFAULT ''
);
-- The admin page lists newest first, filtered by kind, user or client: each index
-- serves one filter in id order. Partial where most rows have no value.
CREATE INDEX audit_events_kind ON audit_events(kind, id);
CREATE INDEX audit_events_user ON audit_events(user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_client ON audit_events(client_id, id) WHERE client_id IS NOT NULL;
