ALTER TABLE clients DROP COLUMN pkce_optional;
