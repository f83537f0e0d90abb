DROP TABLE staff_imports;
