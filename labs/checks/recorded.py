"""What the database holds about a session's checks, read in one go: the check results (with the last
probes the server made, kept in their details) and the student's DNS record.

The checklist, its diagnosis, the traffic path and the completion summary all read these rows: a page
that draws them together reads them once and hands them to each (readers given none read their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from labs.checks.definitions import PROBE_KEYS
from labs.models import CheckResult, DnsRecord, LabSession


@dataclass(frozen=True)
class CheckRecords:
    results: dict[str, CheckResult]  # by check key
    dns_record: DnsRecord | None

    @property
    def probes(self) -> dict[str, dict]:
        """The stored probes by check key (as labs.checks.stored_probes gives them)."""
        return {key: (row.detail or {}).get("probe") or {} for key, row in self.results.items() if key in PROBE_KEYS}

    @property
    def reached(self) -> dict[str, datetime]:
        """When each reached check was first reached."""
        return {key: row.passed_at for key, row in self.results.items() if row.passed_at is not None}


def read_check_records(session: LabSession) -> CheckRecords:
    return CheckRecords(results={r.key: r for r in CheckResult.objects.filter(session=session)},
                        dns_record=DnsRecord.objects.filter(session=session).first())
