"""The guide's stepper: which step of the lab the student is on, from the checks reached.

The same rule runs in the browser (static/js/workspace.js) when the checklist is
redrawn over the WebSocket; this one draws the first render.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def step_done(index: int, steps: Sequence, reached: set[str]) -> bool:
    """A step is behind the student when all its checks are reached, or a later step's check is.

    A step without checks (reading, cleaning up) and an optional step the student
    skipped are behind them once they reached a check further on.
    """
    checks = steps[index].checks
    if checks and all(key in reached for key in checks):
        return True
    return any(key in reached for later in steps[index + 1:] for key in later.checks)


def current_step(steps: Sequence, reached: Iterable[str]) -> int:
    """The index of the step the student is on: the first not behind them (the last when all are)."""
    reached = set(reached)
    for index in range(len(steps)):
        if not step_done(index, steps, reached):
            return index
    return max(len(steps) - 1, 0)


def stepper_context(lab, statuses) -> dict:
    """The context of the guide's stepper, from the lab's steps and the checklist's statuses."""
    reached = {s.key for s in statuses if s.passed or s.reached_at is not None}
    steps = list(lab.steps)
    current = current_step(steps, reached)
    return {
        "step_current": current,
        "step_total": len(steps),
        "guide_steps": [
            {"step": step, "number": i + 1, "done": step_done(i, steps, reached), "current": i == current}
            for i, step in enumerate(steps)
        ],
    }
