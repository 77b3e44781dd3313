from types import SimpleNamespace

from labs.content_loader import load_lab
from labs.live.stepper import current_step, stepper_context

# The LoadBalancer lab's shape: reading, deploy, external IP, optional DNS, clean-up.
STEPS = [SimpleNamespace(checks=c) for c in ((), ("ready", "selects"), ("ip", "http"), ("sslip", "record"), ("gone",))]


def test_it_starts_on_the_first_step_whatever_it_checks():
    assert current_step(STEPS, set()) == 0


def test_it_moves_past_a_step_when_its_checks_are_reached():
    assert current_step(STEPS, {"ready"}) == 1  # the step needs both checks
    assert current_step(STEPS, {"ready", "selects"}) == 2
    assert current_step(STEPS, {"ready", "selects", "ip", "http"}) == 3


def test_it_leaves_behind_a_skipped_optional_step_once_a_later_check_is_reached():
    assert current_step(STEPS, {"ready", "selects", "ip", "http", "sslip"}) == 3
    assert current_step(STEPS, {"ready", "selects", "ip", "http", "sslip", "gone"}) == 4


def test_it_stays_on_the_last_step_when_everything_is_reached():
    everything = {key for step in STEPS for key in step.checks}
    assert current_step(STEPS, everything) == len(STEPS) - 1


def test_it_counts_a_check_reached_once_even_when_it_no_longer_passes():
    lab = load_lab("loadbalancer")
    deploy = next(step for step in lab.steps if "deployment-ready" in step.checks)

    def status(key, state, reached_at=None):
        return SimpleNamespace(key=key, state=state, passed=state == "passed", reached_at=reached_at)

    statuses = [status(key, "failing", reached_at="12:00") for key in deploy.checks]
    context = stepper_context(lab, statuses)
    assert context["step_total"] == len(lab.steps)
    assert context["step_current"] == lab.steps.index(deploy) + 1
    assert [item["done"] for item in context["guide_steps"][: context["step_current"]]] == [True] * context["step_current"]
    assert context["guide_steps"][context["step_current"]]["current"]
