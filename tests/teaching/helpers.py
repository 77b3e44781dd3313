"""Builders shared by the teaching tests: a cohort with its instructor and students."""

from labs.models import Cohort
from teaching.roles import make_instructor, make_student
from tests.labs.helpers import make_session


def make_cohort(make_user, name="Class A", students=("alice", "bob"), teacher="teacher", **extra):
    """-> (cohort, teacher, [students])"""
    instructor = make_user(teacher)
    make_instructor(instructor)
    cohort = Cohort.objects.create(name=name, **extra)
    cohort.instructors.add(instructor)
    users = []
    for username in students:
        user = make_user(username)
        make_student(user)
        cohort.students.add(user)
        users.append(user)
    return cohort, instructor, users


def cohort_session(cohort, user, **extra):
    return make_session(user, cohort=cohort, **extra)


def other_instructor(make_user, username="intruder"):
    """An instructor of another cohort."""
    user = make_user(username)
    make_instructor(user)
    other = Cohort.objects.create(name=f"cohort of {username}")
    other.instructors.add(user)
    return user
