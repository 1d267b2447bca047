-- Portcullis schema, SQLite flavour. Times are seconds since the Unix epoch. Every
-- secret, token and code is kept only as its SHA-256 (see src/crypto.rs).

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,                       -- Argon2id PHC string; NULL: no password login
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    date_joined BIGINT NOT NULL,
    last_login BIGINT
);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE user_groups (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL UNIQUE,
    client_secret_hash BLOB,                  -- NULL for public clients
    name TEXT NOT NULL,
    client_type TEXT NOT NULL CHECK (client_type IN ('confidential', 'public')),
    grant_types TEXT NOT NULL,                -- space-separated
    redirect_uris TEXT NOT NULL DEFAULT '',   -- space-separated, matched exactly
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    allowed_origins TEXT NOT NULL DEFAULT '',
    allowed_scopes TEXT,                      -- NULL: every configured scope
    skip_authorization BOOLEAN NOT NULL DEFAULT FALSE,
    algorithm TEXT NOT NULL DEFAULT 'RS256',  -- ID token signing
    access_token_format TEXT NOT NULL DEFAULT 'opaque',
    owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX applications_owner ON applications(owner_id);

-- Authorization codes. A used code keeps its row (used_at) until it expires, so a
-- replay can be recognised and the tokens it produced revoked.
CREATE TABLE authorization_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash BLOB NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    code_challenge TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    nonce TEXT,
    claims TEXT,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);

CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,   -- NULL: client credentials
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    code_id BIGINT REFERENCES authorization_codes(id) ON DELETE SET NULL,
    refresh_family TEXT                       -- the refresh family it was issued with
);
CREATE INDEX access_tokens_family ON access_tokens(refresh_family);
CREATE INDEX access_tokens_code ON access_tokens(code_id);
CREATE INDEX access_tokens_user ON access_tokens(user_id);
CREATE INDEX access_tokens_application ON access_tokens(application_id);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

-- Refresh tokens. All tokens rotated from one grant share a family; presenting a
-- rotated-out one revokes the family (reuse detection).
CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash BLOB NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_token_id BIGINT REFERENCES access_tokens(id) ON DELETE SET NULL,
    family TEXT NOT NULL,
    parent_id BIGINT REFERENCES refresh_tokens(id) ON DELETE SET NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,                        -- NULL: does not expire
    rotated_at BIGINT,
    revoked_at BIGINT,
    code_id BIGINT REFERENCES authorization_codes(id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
CREATE INDEX refresh_tokens_parent ON refresh_tokens(parent_id);
CREATE INDEX refresh_tokens_access ON refresh_tokens(access_token_id);
CREATE INDEX refresh_tokens_code ON refresh_tokens(code_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX refresh_tokens_application ON refresh_tokens(application_id);

-- ID tokens issued (OpenID Connect), by their jti, so they can be listed and revoked.
CREATE TABLE id_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    jti TEXT NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    access_token_id BIGINT REFERENCES access_tokens(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- What a user has agreed to let an application do (approval_prompt=auto).
CREATE TABLE consents (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id)
);

-- Device authorization grants (RFC 8628).
CREATE TABLE device_grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_code_hash BLOB NOT NULL UNIQUE,
    user_code TEXT NOT NULL UNIQUE,           -- normalised: upper case, no separators
    application_id BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    interval_seconds BIGINT NOT NULL,
    last_polled_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX device_grants_expiry ON device_grants(expires_at);

-- OpenID Connect signing keys. Private keys may be encrypted with a key from the
-- settings; retired keys stay published until their tokens expire.
CREATE TABLE signing_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    algorithm TEXT NOT NULL,
    private_key BLOB NOT NULL,
    encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- Browser sessions, server-side so any instance can serve any request.
CREATE TABLE sessions (
    id_hash BLOB PRIMARY KEY,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    data TEXT NOT NULL DEFAULT '{}',
    csrf_token TEXT NOT NULL,                 -- the session's token for every form
    auth_time BIGINT,                         -- when the user last entered a password
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Failed logins, by account and by address, for throttling across instances.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    throttle_key TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(throttle_key, failed_at);
