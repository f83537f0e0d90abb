-- Issue 12 (PAR, RFC 9126; DPoP, RFC 9449). Per client: authorization requests only by
-- pushed request (require_par), token requests only with a DPoP proof (require_dpop).
-- A refresh token of a public client is bound to the DPoP key of the sign-in (its RFC 7638
-- thumbprint, dpop_jkt); rotation carries the binding to the next token.
-- See docs/designs/sender-constrained-tokens.md.
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
