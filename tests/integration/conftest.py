"""The generated facility of the reports suites (tests/reports_support.py), available to every integration test."""

from tests.reports_support import (  # noqa: F401 - fixtures, registered by being imported here
    facility,
    facility_copy,
    facility_pg_template,
    facility_sqlite_template,
)
