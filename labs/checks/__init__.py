"""The lab's checks: definitions, evaluation from the observed state, diagnosis of what is
wrong, the server's own HTTP and DNS probes, the student's DNS record, the clean-up check
and the lab's completion."""

from labs.checks.definitions import FAILING, PASSED, PROBE_KEYS, WAITING, CheckStatus, check_definitions
from labs.checks.diagnosis import Diagnosis, diagnose
from labs.checks.evaluation import evaluate, load_state, save_checks, save_probe, stored_probes
from labs.checks.hook import on_namespace_change, recheck_now
from labs.checks.recorded import CheckRecords, read_check_records
from labs.checks.refresh import refresh_checks
from labs.checks.targets import lb_target, probe_signature, target_signature

__all__ = [
    "FAILING", "PASSED", "PROBE_KEYS", "WAITING", "CheckRecords", "CheckStatus", "Diagnosis", "check_definitions",
    "diagnose", "evaluate", "lb_target", "load_state", "on_namespace_change", "probe_signature", "read_check_records",
    "recheck_now", "refresh_checks", "save_checks", "save_probe", "stored_probes", "target_signature",
]
