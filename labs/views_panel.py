"""The panel's context for the session page (see labs/panel.py)."""

from labs.panel import panel_context

__all__ = ["panel_context"]
