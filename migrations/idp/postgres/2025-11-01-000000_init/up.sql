-- kenpo IdP schema (PostgreSQL). Times are UNIX seconds (BIGINT) so both backends share one type.
CREATE TABLE members (
  id TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL,
  user_id_key TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL UNIQUE,
  symbol TEXT NOT NULL,
  number TEXT NOT NULL,
  birthdate TEXT NOT NULL,
  name TEXT NOT NULL,
  name_kana TEXT NOT NULL,
  email TEXT,
  email_verified BOOLEAN NOT NULL DEFAULT FALSE,
  locale TEXT,
  password_hash TEXT,
  initial_password_since BIGINT,
  birthdate_confirmed_at BIGINT,
  terms_version TEXT,
  terms_accepted_at BIGINT,
  chosen_factor TEXT,
  preferred_factor TEXT,
  email_otp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
  onboarded_at BIGINT,
  password_changed_at BIGINT,
  last_login_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (symbol, number)
);
CREATE INDEX members_email ON members (email);

CREATE TABLE passkeys (
  id TEXT PRIMARY KEY NOT NULL,
  member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  credential_id TEXT NOT NULL UNIQUE,
  label TEXT NOT NULL,
  passkey TEXT NOT NULL,
  backup_eligible BOOLEAN NOT NULL DEFAULT FALSE,
  backup_state BOOLEAN NOT NULL DEFAULT FALSE,
  sign_count BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT
);
CREATE INDEX passkeys_member ON passkeys (member_id);

CREATE TABLE totp_credentials (
  member_id TEXT PRIMARY KEY NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  secret_enc BYTEA NOT NULL,
  last_step BIGINT,
  created_at BIGINT NOT NULL
);

CREATE TABLE clients (
  client_id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  secret_hash TEXT,
  auth_method TEXT NOT NULL,
  jwks TEXT,
  redirect_uris TEXT NOT NULL,
  post_logout_redirect_uris TEXT NOT NULL,
  backchannel_logout_uri TEXT,
  third_party BOOLEAN NOT NULL DEFAULT FALSE,
  id_token_alg TEXT NOT NULL,
  scopes TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY NOT NULL,
  alg TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  private_key_enc BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  activates_at BIGINT NOT NULL,
  retired_at BIGINT,
  expires_at BIGINT
);

CREATE TABLE grants (
  id TEXT PRIMARY KEY NOT NULL,
  client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  sid TEXT NOT NULL,
  scope TEXT NOT NULL,
  claims TEXT,
  auth_time BIGINT NOT NULL,
  amr TEXT NOT NULL,
  acr TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT,
  revoked_reason TEXT
);
CREATE INDEX grants_member ON grants (member_id);
CREATE INDEX grants_sid ON grants (sid);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY NOT NULL,
  grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated_at BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE consents (
  member_id TEXT NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  scope TEXT NOT NULL,
  granted_at BIGINT NOT NULL,
  PRIMARY KEY (member_id, client_id)
);

CREATE TABLE audit_events (
  id BIGSERIAL PRIMARY KEY,
  member_id TEXT,
  actor TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  ip TEXT,
  at BIGINT NOT NULL
);
CREATE INDEX audit_events_member ON audit_events (member_id, at);

CREATE TABLE backchannel_outbox (
  id TEXT PRIMARY KEY NOT NULL,
  client_id TEXT NOT NULL,
  uri TEXT NOT NULL,
  logout_token TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  delivered_at BIGINT,
  last_error TEXT
);
CREATE INDEX backchannel_outbox_due ON backchannel_outbox (delivered_at, next_attempt_at);
