"""Roles as Django groups with permissions: student, instructor, admin."""

from __future__ import annotations

STUDENT, INSTRUCTOR, ADMIN = "student", "instructor", "admin"
TEACH = "labs.teach_cohort"


def ensure_roles() -> None:
    """Create the three groups and give them their permissions (idempotent; run after migrate)."""
    from django.contrib.auth.models import Group, Permission

    teach = Permission.objects.filter(content_type__app_label="labs", codename="teach_cohort").first()
    audit = Permission.objects.filter(content_type__app_label="teaching", codename="view_action").first()
    Group.objects.get_or_create(name=STUDENT)
    instructor, _ = Group.objects.get_or_create(name=INSTRUCTOR)
    admin, _ = Group.objects.get_or_create(name=ADMIN)
    if teach:
        instructor.permissions.add(teach)
        admin.permissions.add(teach)
    if audit:
        admin.permissions.add(audit)


def make_instructor(user) -> None:
    from django.contrib.auth.models import Group

    ensure_roles()
    user.groups.add(Group.objects.get(name=INSTRUCTOR))


def make_student(user) -> None:
    from django.contrib.auth.models import Group

    ensure_roles()
    user.groups.add(Group.objects.get(name=STUDENT))


def is_instructor(user) -> bool:
    return bool(user.is_authenticated and user.has_perm(TEACH))
