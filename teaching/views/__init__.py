"""The instructor's pages: cohorts, the dashboard and its forms, actions, export, drill-down."""
