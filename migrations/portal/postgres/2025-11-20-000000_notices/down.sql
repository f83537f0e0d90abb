DROP TABLE visits;
DROP TABLE imports;
DROP TABLE eligibility;
DROP TABLE benefit_payments;
DROP TABLE medical_costs;
