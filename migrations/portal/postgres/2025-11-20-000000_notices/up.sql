-- Notices of the portal. Amounts are whole yen; months are YYYYMM integers; dates are
-- 'YYYY-MM-DD' text; timestamps are UNIX seconds. A household is 記号 (symbol) + 番号 (number);
-- 枝番 (branch) is the person within it ('00' the insured person).

-- 医療費のお知らせ: one row per person, treatment month, category and institution.
CREATE TABLE medical_costs (
    symbol TEXT NOT NULL,
    number TEXT NOT NULL,
    treatment_month INTEGER NOT NULL,
    branch TEXT NOT NULL,
    category TEXT NOT NULL,
    institution TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    days INTEGER NOT NULL,
    total_cost BIGINT NOT NULL,
    insurer_paid BIGINT NOT NULL,
    public_subsidy BIGINT NOT NULL,
    own_share BIGINT NOT NULL,
    import_id TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, number, treatment_month, branch, category, institution)
);
CREATE INDEX medical_costs_imported ON medical_costs (symbol, number, imported_at);

-- 給付金のお知らせ: one row per payment.
CREATE TABLE benefit_payments (
    symbol TEXT NOT NULL,
    number TEXT NOT NULL,
    payment_month INTEGER NOT NULL,
    branch TEXT NOT NULL,
    kind TEXT NOT NULL,
    covered_from TEXT NOT NULL,
    covered_to TEXT NOT NULL,
    person_name TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    payment_date TEXT NOT NULL,
    amount BIGINT NOT NULL,
    route TEXT NOT NULL,
    import_id TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, number, payment_month, branch, kind, covered_from)
);

-- 資格情報のお知らせ: one row per household member (the current state).
CREATE TABLE eligibility (
    symbol TEXT NOT NULL,
    number TEXT NOT NULL,
    branch TEXT NOT NULL,
    insurer_number TEXT NOT NULL,
    name TEXT NOT NULL,
    name_kana TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    eligible_since TEXT NOT NULL,
    cost_share INTEGER NOT NULL,
    issued_on TEXT NOT NULL,
    import_id TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, number, branch)
);

-- One row per staff import, for the operators' record.
CREATE TABLE imports (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    encoding TEXT NOT NULL,
    rows_imported BIGINT NOT NULL,
    rows_replaced BIGINT NOT NULL,
    households BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);

-- When each household last signed in to the portal ("new since your last visit").
CREATE TABLE visits (
    symbol TEXT NOT NULL,
    number TEXT NOT NULL,
    last_visit_at BIGINT NOT NULL,
    PRIMARY KEY (symbol, number)
);
