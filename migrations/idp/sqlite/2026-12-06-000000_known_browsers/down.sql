DROP TABLE known_browsers;
ALTER TABLE members DROP COLUMN strong_factor_due;
