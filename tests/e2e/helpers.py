"""What several browser tests do the same way."""

from __future__ import annotations

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
