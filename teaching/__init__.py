"""The instructor's side: cohorts, the live dashboard of a cohort, help requests and messages as the
instructor sees them, drill-down into one student, actions on sessions (audited), and export.
Imports labs, never the reverse: it hears labs through labs.signals."""
