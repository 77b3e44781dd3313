"""The dashboard's live fragments (funnel, a student's row, help requests, actions): one template each,
drawn for the first render and for every WebSocket update (htmx out-of-band swap by id)."""

from __future__ import annotations

from django.template.loader import render_to_string

from labs.models import Cohort, HelpRequest
from teaching.grid import build_rows, columns, funnel
from teaching.models import Action

ROW_TEMPLATE = "teaching/fragments/row.html"
FUNNEL_TEMPLATE = "teaching/fragments/funnel.html"
HELP_TEMPLATE = "teaching/fragments/help.html"
ACTIONS_TEMPLATE = "teaching/fragments/actions.html"
GRID_TEMPLATE = "teaching/fragments/grid.html"


def open_help_requests(cohort: Cohort):
    return (HelpRequest.objects.filter(session__cohort=cohort, state=HelpRequest.State.OPEN)
            .select_related("session__user").order_by("created"))


def recent_actions(cohort: Cohort):
    return Action.objects.filter(cohort=cohort).select_related("actor", "student")[:8]


def funnel_context(cohort):
    return {"cohort": cohort, "funnel": funnel(cohort)}


def help_context(cohort):
    return {"cohort": cohort, "help_requests": list(open_help_requests(cohort))}


def actions_context(cohort):
    return {"cohort": cohort, "actions": list(recent_actions(cohort))}


def grid_context(cohort) -> dict:
    return {"cohort": cohort, "columns": columns(cohort), "rows": build_rows(cohort)}


def render_funnel(cohort) -> str:
    return render_to_string(FUNNEL_TEMPLATE, funnel_context(cohort))


def render_help(cohort) -> str:
    return render_to_string(HELP_TEMPLATE, help_context(cohort))


def render_actions(cohort) -> str:
    return render_to_string(ACTIONS_TEMPLATE, actions_context(cohort))


def render_row(cohort, student) -> str:
    rows = build_rows(cohort, [student])
    return render_to_string(ROW_TEMPLATE, {"cohort": cohort, "row": rows[0], "oob": True})


def render_dashboard(cohort) -> str:
    """Everything live on the dashboard (on connect and resync)."""
    return (render_to_string(GRID_TEMPLATE, grid_context(cohort)) + render_funnel(cohort) + render_help(cohort)
            + render_actions(cohort))
