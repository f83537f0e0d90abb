// The portal's tables (migrations/portal/{sqlite,postgres}), written by hand: only types both
// backends share.

diesel::table! {
    medical_costs (symbol, number, treatment_month, branch, category, institution) {
        symbol -> Text,
        number -> Text,
        treatment_month -> Integer,
        branch -> Text,
        category -> Text,
        institution -> Text,
        patient_name -> Text,
        days -> Integer,
        total_cost -> BigInt,
        insurer_paid -> BigInt,
        public_subsidy -> BigInt,
        own_share -> BigInt,
        import_id -> Text,
        imported_at -> BigInt,
    }
}

diesel::table! {
    benefit_payments (symbol, number, payment_month, branch, kind, covered_from) {
        symbol -> Text,
        number -> Text,
        payment_month -> Integer,
        branch -> Text,
        kind -> Text,
        covered_from -> Text,
        covered_to -> Text,
        person_name -> Text,
        decision_date -> Text,
        payment_date -> Text,
        amount -> BigInt,
        route -> Text,
        import_id -> Text,
        imported_at -> BigInt,
    }
}

diesel::table! {
    eligibility (symbol, number, branch) {
        symbol -> Text,
        number -> Text,
        branch -> Text,
        insurer_number -> Text,
        name -> Text,
        name_kana -> Text,
        birthdate -> Text,
        eligible_since -> Text,
        cost_share -> Integer,
        issued_on -> Text,
        import_id -> Text,
        imported_at -> BigInt,
    }
}

diesel::table! {
    imports (id) {
        id -> Text,
        kind -> Text,
        file_name -> Text,
        encoding -> Text,
        rows_imported -> BigInt,
        rows_replaced -> BigInt,
        households -> BigInt,
        imported_at -> BigInt,
    }
}

diesel::table! {
    staff_imports (import_id) {
        import_id -> Text,
        staff_sub -> Text,
        staff_email -> Text,
        reason -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    visits (symbol, number) {
        symbol -> Text,
        number -> Text,
        last_visit_at -> BigInt,
    }
}
