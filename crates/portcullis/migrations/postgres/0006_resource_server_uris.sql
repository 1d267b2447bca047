-- The resources (RFC 8707 resource URIs) an application is the resource server for:
-- under `[oauth2] introspection_policy = "audience"` it may introspect the access
-- tokens whose audience names one of them (RFC 7662 §4). Space-separated, as
-- redirect_uris are, and matched as exactly; empty: none.
ALTER TABLE applications ADD COLUMN resource_server_uris TEXT NOT NULL DEFAULT '';
