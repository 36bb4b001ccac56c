"""The counter's statement downloads: ``settlement.statement_exports``, shared with the investor's own pages."""

from settlement.statement_exports import (  # noqa: F401 - re-exported for the counter's views
    channel_label,
    movement_details,
    movement_label,
    side_label,
    statement_csv,
    statement_pdf,
    status_label,
    summary_rows,
)
