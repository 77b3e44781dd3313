"""Passwords: the product stores them with a slow, salted hash; only the test run hashes quickly
(tests/settings.py, which pytest names and every process it starts inherits)."""

import importlib

from django.conf import global_settings
from django.contrib.auth.hashers import check_password, make_password
from django.utils.module_loading import import_string


def test_the_product_stores_passwords_with_a_slow_salted_hash():
    product = importlib.import_module("liveops.settings")  # what a deployment runs
    hasher = import_string(getattr(product, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)[0])()
    # Django's own PBKDF2 (salted, a million rounds and more): hashing it here would cost the time saved.
    assert hasher.algorithm == "pbkdf2_sha256" and hasher.iterations >= 1_000_000


def test_the_test_run_hashes_quickly_and_still_checks_passwords():
    stored = make_password("pw-alice-123")
    assert stored.startswith("md5$")
    assert check_password("pw-alice-123", stored) and not check_password("pw-alice-124", stored)
