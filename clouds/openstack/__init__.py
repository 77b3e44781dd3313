"""OpenStack projects reached through openstacksdk: connections from a credential, errors in plain
words, and the admin's "Test connection"."""
