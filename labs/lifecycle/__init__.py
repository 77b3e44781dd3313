"""A lab session's life: start, provision, extend, expire and end, each Celery task beside the
function it runs. Views call these; nothing here renders a page."""

from labs.lifecycle.end import end_session, teardown_session
from labs.lifecycle.expire import expire_sessions, expired_sessions, sessions_to_warn, warn_before_minutes
from labs.lifecycle.extend import extend_session
from labs.lifecycle.namespace import NAMESPACE_LABEL, ProvisioningError
from labs.lifecycle.provision import provision_session, reprovision_missing_namespaces
from labs.lifecycle.start import StartRefused, cohort_for_start, namespace_for, running_session, start_session

__all__ = [
    "NAMESPACE_LABEL", "ProvisioningError", "StartRefused", "cohort_for_start", "end_session", "expire_sessions", "expired_sessions", "extend_session",
    "namespace_for", "provision_session", "reprovision_missing_namespaces", "running_session", "sessions_to_warn",
    "start_session", "teardown_session", "warn_before_minutes",
]
