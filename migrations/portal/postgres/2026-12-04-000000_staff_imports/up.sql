-- Who imported what on the staff pages (issue 11): the staff member (from the verified ID
-- token) and the reason they gave. Imports from the command line have no row here.
CREATE TABLE staff_imports (
    import_id TEXT PRIMARY KEY NOT NULL,
    staff_sub TEXT NOT NULL,
    staff_email TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
