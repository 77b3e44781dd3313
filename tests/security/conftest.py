"""Fixtures of the security suites."""

import pytest


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are made by the dozen here: hash their passwords cheaply (login still checks them)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
