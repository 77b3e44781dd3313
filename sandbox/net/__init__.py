"""Loopback networking of the sandbox: address pools, pod HTTP servers, LB proxies."""
