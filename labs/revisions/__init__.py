"""What the student submits: a revision of their manifests, validated, dry-run and diffed against what is
live, then applied with server-side apply (a Celery task); and live objects merged back into the editor."""

from labs.revisions.apply import ObjectResult, apply_documents, dry_run_documents, server_problems
from labs.revisions.editing import editable, merge_into_text
from labs.revisions.run import apply_revision

__all__ = [
    "ObjectResult", "apply_documents", "apply_revision", "dry_run_documents", "editable", "merge_into_text",
    "server_problems",
]
