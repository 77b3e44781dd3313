"""The settings of the test run: the product's own (liveops/settings.py), with what only tests may change.

pytest uses this module (DJANGO_SETTINGS_MODULE in pyproject.toml) and puts its name in the environment,
so every process the tests start (web servers, Celery workers, the watcher, drills' processes) inherits
it and checks the passwords the tests stored the same way. Only pytest's configuration names this module:
a deployment runs liveops.settings and cannot pick these values up by accident.
"""

from liveops.settings import *  # noqa: F403

# Django's default hasher (PBKDF2, ~1 million iterations) spends about 0.6 s of CPU a hash on a test
# machine, and the tests make and log in users by the hundred. MD5 still stores and checks every
# password (a wrong one is refused, login throttling counts it), in microseconds; it is fit for throwaway
# test accounts only. tests/liveops/test_password_hashing.py checks that the product's settings keep
# the slow hasher.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
