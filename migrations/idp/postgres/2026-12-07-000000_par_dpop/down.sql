ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE clients DROP COLUMN require_dpop;
ALTER TABLE clients DROP COLUMN require_par;
