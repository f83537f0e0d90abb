-- PKCE (S256) is required of every client; a legacy relying party that cannot send it is
-- registered with pkce_optional = TRUE (default FALSE). See docs/configuration.md.
ALTER TABLE clients ADD COLUMN pkce_optional BOOLEAN NOT NULL DEFAULT FALSE;
