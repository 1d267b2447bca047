-- RFC 8707 resource indicators: the resources (absolute URIs, space-separated, as
-- scopes are) that a grant was authorized for and that an access token is bound to.
-- Empty: none named, the token is not bound to any one resource.
ALTER TABLE authorization_codes ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE device_grants ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN audience TEXT NOT NULL DEFAULT '';
-- What a user's standing consent covers: the resources they saw on the consent page.
-- Empty: any resource (consent given for a request that named none, or before this).
ALTER TABLE consents ADD COLUMN resource TEXT NOT NULL DEFAULT '';
