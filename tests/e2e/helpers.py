"""What several browser tests do the same way."""

from __future__ import annotations

import time

from playwright.sync_api import expect


def open_object(page, name_button, attempts: int = 3, wait_ms: int = 10_000):
    """Click an object's name in the live panel and return its dialog once it shows.

    The socket redraws a row whenever its object changes; a click that lands while the row is being
    replaced (before htmx has wired the new button) opens nothing, and a person would click again.
    """
    dialog = page.get_by_test_id("object-dialog")
    for attempt in range(attempts):
        name_button.click()
        try:
            expect(dialog).to_be_visible(timeout=wait_ms)
            return dialog
        except AssertionError:
            if attempt == attempts - 1:
                raise
    return dialog


def poll(page, expression: str, timeout: float = 30.0):
    """Wait until a page expression is true. (Not `wait_for_function`: its polling evaluates a string in
    the page, which the pages' Content Security Policy forbids: it fails with an EvalError whenever the
    expression is not already true at the first look.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)
