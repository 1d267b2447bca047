-- Most tokens have no authorization code, many have no user (client credentials) or no
-- refresh family, and a fresh refresh token has no parent. Indexing only the rows that
-- have a value keeps those rows out of three or four B-trees per insert, which is the
-- bulk of the work of issuing a token; every lookup on these columns is an equality
-- (or a foreign key's), which implies IS NOT NULL, so the partial indexes still serve them.
DROP INDEX access_tokens_family;
CREATE INDEX access_tokens_family ON access_tokens(refresh_family) WHERE refresh_family IS NOT NULL;
DROP INDEX access_tokens_code;
CREATE INDEX access_tokens_code ON access_tokens(code_id) WHERE code_id IS NOT NULL;
DROP INDEX access_tokens_user;
CREATE INDEX access_tokens_user ON access_tokens(user_id) WHERE user_id IS NOT NULL;
DROP INDEX refresh_tokens_parent;
CREATE INDEX refresh_tokens_parent ON refresh_tokens(parent_id) WHERE parent_id IS NOT NULL;
DROP INDEX refresh_tokens_code;
CREATE INDEX refresh_tokens_code ON refresh_tokens(code_id) WHERE code_id IS NOT NULL;
