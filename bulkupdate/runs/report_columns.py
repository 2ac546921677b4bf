"""The columns of a CSV report, in one place.

Both the report writer (``status_and_report.py``) and the check that overwrites nothing but a
report (``output_paths.py``) need them, and the second must not import the journal.
"""

CSV_COLUMNS = (
    "phone_number",
    "id",
    "input",
    "status",
    "attempts",
    "job_ids",
    "error_codes",
    "error_details",
    "source",
    "line",
)
