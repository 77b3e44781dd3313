"""The fault switches the drills use: slow answers on the API server and the cloud, the cloud's
failing calls, and the refusals of a bad switch (a clear message naming it)."""

import time

from tests.sandbox.openstack.conftest import http


def test_it_answers_a_matching_call_late_once_it_is_done(sandbox, namespace):
    status, _, body = sandbox.request("POST", "/sandbox/faults", {"slow_answers": [
        {"method": "GET", "path": f"/api/v1/namespaces/{namespace}", "seconds": 0.5, "count": 1}]})
    assert status == 200 and body["slow_answers"][0]["count"] == 1
    started = time.monotonic()
    assert sandbox.request("GET", f"/api/v1/namespaces/{namespace}")[0] == 200
    assert time.monotonic() - started >= 0.5
    assert sandbox.request("GET", "/sandbox/faults")[2]["slow_answers"][0]["count"] == 0


def test_it_refuses_bad_switches_and_says_which(sandbox):
    status, _, body = sandbox.request("POST", "/sandbox/faults", {"slow_answers": [{"method": "GET"}]})
    assert status == 400 and "slow_answers must be a list" in body["error"]
    status, _, body = sandbox.request("POST", "/sandbox/faults", {"slow": []})
    assert status == 400 and "unknown switch 'slow'" in body["error"]
    status, _, body = sandbox.request("POST", "/sandbox/restart", {"down_seconds": -1})
    assert status == 400 and "down_seconds must be a number of seconds" in body["error"]
    assert sandbox.request("GET", "/sandbox/faults")[2]["restarts"] == 0


def test_it_fails_the_share_of_cloud_calls_it_is_told(cloud):
    token = cloud.clouds["sandbox"]["admin_token"]
    headers = {"X-Sandbox-Admin-Token": token}
    status, body = http("POST", cloud.url + "/sandbox/faults", body={"error_rates": {"image": 2}}, headers=headers)
    assert status == 400 and "error_rates must map" in body["error"]
    before = cloud.faults()["injected"].get("error", 0)
    cloud.faults(error_rates={"image": 0.5})
    conn = cloud.connect("sandbox")
    try:
        outcomes = []
        for _ in range(4):
            try:
                list(conn.image.images())
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - what the client raises is the point
                outcomes.append(getattr(exc, "status_code", None))
    finally:
        cloud.faults(error_rates={})
        conn.close()
    # Every other call of the service fails (counting the client's own discovery calls too).
    assert outcomes.count(500) >= 1 and "ok" in outcomes
    assert cloud.faults()["injected"]["error"] - before >= outcomes.count(500)
