"""What labs tells other parts of the product (the instructor's dashboard) without knowing them.

- `session_notified(session_id, what)`: a part of a session's page was asked to redraw
  (status, checks, revisions, dns, balancer, messages): sent by labs.notify after the page's group.
- `checklist_evaluated(session, statuses, diagnoses)`: the visible checklist of a session changed;
  sent by labs.checks.refresh before the page is told, with what the student now sees.

Receivers run where the change happened (a view, a Celery task, the watcher's worker thread)
and must not raise: labs goes on regardless.
"""

from django.dispatch import Signal

session_notified = Signal()
checklist_evaluated = Signal()
