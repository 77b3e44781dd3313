"""Scheduler and simulated kubelet: binds pods to nodes they fit on (nodeSelector, node
affinity, taints, requests against allocatable: see scheduling.py), round-robin among
them, leaves the others Pending with the scheduler's FailedScheduling event and tries
them again when a node changes or a bound pod goes away; creates each pod's
sandbox (a loopback address free on the machine, with the containers' ports bound on
it), "pulls" images, starts containers (real HTTP servers on the pod IP), crash-loops
containers whose command exits, and finishes terminating pods.

A port that cannot be bound on the pod's address (another process holds it) fails
the sandbox as a real kubelet reports a CNI failure: a FailedCreatePodSandBox
warning naming the address and port, the pod stays Pending and not Ready (so no
Service sends it traffic), and the sandbox is tried again later on a new address."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time

from ..net.http import PodHTTPServer, nginx_startup_lines
from ..net.ipam import AddressPool, PoolExhausted
from . import images
from .base import Controller, Key, is_terminating, set_condition
from .scheduling import NodeUsage, feasible_nodes

log = logging.getLogger("sandbox.kubelet")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _strerror(e: OSError) -> str:
    """"address already in use", as Go's net package words it (asyncio wraps the message)."""
    return (os.strerror(e.errno) if e.errno else str(e)).lower()


def qos_class(pod: dict) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or str(req.get(r, lim[r])) != str(lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class ContainerState:
    def __init__(self, spec: dict, init: bool = False) -> None:
        self.spec = spec
        self.name = spec.get("name", "")
        self.image = spec.get("image", "")
        self.init = init
        self.state: dict = {"waiting": {"reason": "PodInitializing" if not init else "ContainerCreating"}}
        self.last_state: dict = {}
        self.ready = False
        self.started = False
        self.ever_started = False
        self.restart_count = 0
        self.container_id = ""
        self.image_id = ""
        self.servers: list[PodHTTPServer] = []  # bound with the sandbox, serving once started

    def status(self) -> dict:
        out = {
            "name": self.name,
            "image": images.full_reference(self.image) if self.image_id else self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


class PodRuntime:
    """What the kubelet holds for one pod."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.task: asyncio.Task | None = None
        self.terminating: asyncio.Task | None = None
        self.servers: list[PodHTTPServer] = []
        self.ip: str | None = None
        self.node: str | None = None
        self.containers: list[ContainerState] = []
        self.init_containers: list[ContainerState] = []
        self.initialized = False
        self.scheduled = False
        self.start_time: str | None = None

    async def close_servers(self) -> None:
        servers, self.servers = self.servers, []
        await asyncio.gather(*(s.close() for s in servers), return_exceptions=True)


class KubeletController(Controller):
    name = "kubelet"
    primary = "pods"
    watches = ("pods", "nodes")

    def __init__(self, store, config, runtime) -> None:
        super().__init__(store, config, runtime)
        self.pool = AddressPool(config.pod_cidr)
        self.pods: dict[Key, PodRuntime] = {}
        self._rr = 0
        self._pulled: dict[str, set[str]] = {}
        # The scheduler: what bound pods request per node, one pod placed at a time, and
        # an event set (then replaced) whenever room may have appeared.
        self.usage = NodeUsage()
        for pod in store.scan("pods"):
            self.usage.observe(pod)
        self._scheduling = asyncio.Lock()
        self._room_changed = asyncio.Event()

    def keys_for(self, resource, event_type, obj):
        if resource == "nodes":
            self._wake_unschedulable()
            # a node that (re)appears gets its kubelet: the pods bound to it by name start
            node = obj["metadata"]["name"]
            for pod in self.store.scan("pods"):
                key = (pod["metadata"].get("namespace", ""), pod["metadata"]["name"])
                if (pod.get("spec") or {}).get("nodeName") == node and key not in self.pods:
                    yield key
            return
        if self.usage.observe(obj, deleted=event_type == "DELETED"):
            self._wake_unschedulable()
        yield (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    def _wake_unschedulable(self) -> None:
        """A node changed or a bound pod went away: pending pods are tried again."""
        self._room_changed.set()
        self._room_changed = asyncio.Event()

    def all_keys(self):
        return set(self.store.keys("pods")) | set(self.pods)

    async def shutdown(self) -> None:
        for rt in list(self.pods.values()):
            for t in (rt.task, rt.terminating):
                if t:
                    t.cancel()
            await rt.close_servers()
        self.pods.clear()
        self.pool.close()

    # ---- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        ns, name = key
        pod = self.store.peek("pods", ns, name)
        rt = self.pods.get(key)
        if rt is not None and (pod is None or pod["metadata"]["uid"] != rt.uid):
            await self._forget(key, rt)
            rt = None
        if pod is None:
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if rt is None and node and self.store.peek("nodes", None, node) is None:
            # Bound by spec.nodeName to a node that does not exist: no kubelet runs there and the
            # scheduler skips bound pods, so it stays Pending; once deleted, nothing but the pod
            # garbage collector (orphaned pods) can finish it, which it does.
            if is_terminating(pod):
                await self.store.remove("pods", ns, name)
            return
        if is_terminating(pod):
            if rt is None:
                rt = self.pods[key] = PodRuntime(pod["metadata"]["uid"])
            if rt.terminating is None:
                rt.terminating = asyncio.create_task(self._terminate(key, rt), name=f"terminate-{ns}/{name}")
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            if rt is not None:
                await rt.close_servers()
            return
        if rt is None:
            rt = self.pods[key] = PodRuntime(pod["metadata"]["uid"])
            rt.task = asyncio.create_task(self._lifecycle(key, rt), name=f"pod-{ns}/{name}")

    async def _forget(self, key: Key, rt: PodRuntime) -> None:
        for t in (rt.task, rt.terminating):
            if t and t is not asyncio.current_task():
                t.cancel()
        await rt.close_servers()
        self.pool.release(rt.ip)
        if self.pods.get(key) is rt:
            del self.pods[key]

    # ---- helpers ---------------------------------------------------------------------------

    def _get(self, key: Key, rt: PodRuntime) -> dict | None:
        pod = self.store.get("pods", *key)
        if pod is None or pod["metadata"]["uid"] != rt.uid or is_terminating(pod):
            return None
        return pod

    async def _event(self, pod: dict, reason: str, message: str, type: str = "Normal",
                     component: str = "kubelet") -> None:
        await self.store.record_event(pod, reason, message, type=type, component=component)

    async def _schedule(self, key: Key, rt: PodRuntime) -> str | None:
        """Bind the pod to a node it fits on, as kube-scheduler does; until one exists, leave
        it Pending (PodScheduled=False, Unschedulable) with a FailedScheduling event and try
        again when room may have appeared. None if the pod went away meanwhile."""
        ns, name = key
        await asyncio.sleep(self.delays.schedule)
        while True:
            changed = self._room_changed
            async with self._scheduling:
                pod = self._get(key, rt)
                if pod is None:
                    return None
                nodes = self.store.scan("nodes")
                fits, message = feasible_nodes(pod, nodes, self.usage)
                if fits:
                    node_name = fits[self._rr % len(fits)]["metadata"]["name"]
                    self._rr += 1

                    def bind(p: dict, node_name: str = node_name) -> None:
                        p["spec"]["nodeName"] = node_name
                        conds = p.setdefault("status", {}).setdefault("conditions", [])
                        set_condition(conds, "PodScheduled", "True", now=now(), probe_times=True)
                        for c in conds:
                            if c["type"] == "PodScheduled":
                                c.pop("reason", None)
                                c.pop("message", None)

                    pod = await self.store.mutate("pods", ns, name, bind)
                    if pod is None:
                        return None
                    self.usage.observe(pod)
                    await self._event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node_name}",
                                      component="default-scheduler")
                    return node_name

            def unschedulable(p: dict, message: str = message) -> None:
                p.setdefault("status", {})["phase"] = "Pending"
                set_condition(p["status"].setdefault("conditions", []), "PodScheduled", "False",
                              "Unschedulable", message, now=now(), probe_times=True)

            pod = await self.store.mutate("pods", ns, name, unschedulable)
            if pod is None or self._get(key, rt) is None:
                return None
            await self._event(pod, "FailedScheduling", message, "Warning", "default-scheduler")
            # kube-scheduler retries on cluster changes and flushes its unschedulable queue
            # periodically: the wait's timeout stands for that flush
            try:
                await asyncio.wait_for(changed.wait(), self.resync_period * 6)
            except TimeoutError:
                pass

    async def _publish(self, key: Key, rt: PodRuntime) -> None:
        """Write the pod status computed from the runtime state."""
        ts = now()
        containers = rt.containers
        all_ready = bool(containers) and all(c.ready for c in containers)
        never_started = [c for c in containers if not c.ever_started]
        policy = None

        def apply(pod: dict) -> None:
            nonlocal policy
            policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
            st = pod.setdefault("status", {})
            conds = st.setdefault("conditions", [])
            phase = "Pending"
            if rt.initialized and not never_started:
                terminated = [c for c in containers if "terminated" in c.state]
                if policy != "Always" and len(terminated) == len(containers):
                    codes = [c.state["terminated"].get("exitCode", 0) for c in terminated]
                    if all(x == 0 for x in codes):
                        phase = "Succeeded"
                    elif policy == "Never":
                        phase = "Failed"
                    else:
                        phase = "Running"
                else:
                    phase = "Running"
            st["phase"] = phase
            if rt.node:
                set_condition(conds, "PodReadyToStartContainers", "True" if rt.ip else "False", now=ts,
                              probe_times=True)
                set_condition(conds, "Initialized", "True" if rt.initialized else "False",
                              None if rt.initialized else "ContainersNotInitialized",
                              None if rt.initialized else "containers with incomplete status: "
                              f"[{' '.join(c.name for c in rt.init_containers)}]", now=ts, probe_times=True)
                not_ready = [c.name for c in containers if not c.ready]
                reason = None if all_ready else ("PodCompleted" if phase in ("Succeeded", "Failed")
                                                 else "ContainersNotReady")
                message = None if all_ready or phase in ("Succeeded", "Failed") else \
                    f"containers with unready status: [{' '.join(not_ready)}]"
                for ctype in ("Ready", "ContainersReady"):
                    set_condition(conds, ctype, "True" if all_ready else "False", reason, message,
                                  now=ts, probe_times=True)
                    if all_ready:
                        for c in conds:
                            if c["type"] == ctype:
                                c.pop("reason", None)
                                c.pop("message", None)
                set_condition(conds, "PodScheduled", "True", now=ts, probe_times=True)
                order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
                conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else 99)
                st["hostIP"] = self.runtime.node_ip(rt.node)
                st["hostIPs"] = [{"ip": st["hostIP"]}]
                if rt.start_time:
                    st["startTime"] = rt.start_time
            if rt.ip:
                st["podIP"] = rt.ip
                st["podIPs"] = [{"ip": rt.ip}]
            else:
                st.pop("podIP", None)
                st.pop("podIPs", None)
            if rt.init_containers:
                st["initContainerStatuses"] = [c.status() for c in rt.init_containers]
            if containers:
                st["containerStatuses"] = [c.status() for c in containers]
            st["qosClass"] = qos_class(pod)

        await self.store.mutate("pods", key[0], key[1], apply)

    # ---- the life of a pod -----------------------------------------------------------------

    async def _lifecycle(self, key: Key, rt: PodRuntime) -> None:
        ns, name = key
        try:
            pod = self._get(key, rt)
            if pod is None:
                return
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not node_name:
                scheduler = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
                if scheduler != "default-scheduler":
                    return  # another scheduler's pod: it stays Pending, as no such scheduler runs
                node_name = await self._schedule(key, rt)
                if node_name is None:
                    return
                pod = self._get(key, rt)
                if pod is None:
                    return
            rt.node = node_name
            rt.start_time = now()
            spec = pod.get("spec") or {}
            rt.init_containers = [ContainerState(c, init=True) for c in spec.get("initContainers") or []]
            rt.containers = [ContainerState(c) for c in spec.get("containers") or []]
            rt.initialized = not rt.init_containers
            if rt.initialized:
                for c in rt.containers:
                    c.state = {"waiting": {"reason": "ContainerCreating"}}
            await self._create_sandbox(key, rt)

            for c in rt.init_containers:
                await self._pull(key, rt, c)
                await self._create_start(key, rt, c)
                c.state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now(),
                                          "finishedAt": now(), "containerID": c.container_id}}
                c.started = False
                c.ready = True
                await self._publish(key, rt)
            if rt.init_containers:
                rt.initialized = True
                for c in rt.containers:
                    c.state = {"waiting": {"reason": "PodInitializing"}}
                await self._publish(key, rt)

            await asyncio.gather(*(self._run_container(key, rt, c) for c in rt.containers))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s failed", ns, name)

    async def _create_sandbox(self, key: Key, rt: PodRuntime) -> None:
        """Give the pod an address no other process holds and bind every port its containers
        serve there; until that works, report why (as a real kubelet reports a failed CNI
        setup) and try again later on a new address."""
        attempt = 0
        while True:
            pod = self._get(key, rt)
            if pod is None:
                raise asyncio.CancelledError()
            try:
                rt.ip = self.pool.allocate(rt.uid)
            except PoolExhausted as e:
                message = f"Failed to create pod sandbox: {e}"
            else:
                failed = await self._bind_ports(key, rt)
                if failed is None:
                    await self._publish(key, rt)
                    return
                port, err = failed
                log.warning("pod %s/%s cannot listen on %s:%s: %s", key[0], key[1], rt.ip, port, err)
                message = (f"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup "
                           f'network for sandbox "{secrets.token_hex(32)}": plugin type="loopback" failed '
                           f"(add): listen tcp {rt.ip}:{port}: bind: {_strerror(err)}")
            await rt.close_servers()
            for c in rt.containers:
                c.servers = []
            self.pool.release(rt.ip)
            rt.ip = None
            await self._event(pod, "FailedCreatePodSandBox", message, "Warning")
            await self._publish(key, rt)
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _served_ports(self, c: ContainerState) -> list[int]:
        """The TCP ports a container listens on once started (none if its command exits)."""
        if images.exit_code(c.spec) is not None:
            return []
        if not c.spec.get("ports"):
            return [int(p) for p in images.default_ports(c.image)]
        return [int(p["containerPort"]) for p in c.spec["ports"]
                if (p.get("protocol") or "TCP") == "TCP" and p.get("containerPort")]

    async def _bind_ports(self, key: Key, rt: PodRuntime) -> tuple[int, OSError] | None:
        """Bind (not yet serve) the containers' ports on the pod IP; the first failure, if any."""
        ns, name = key

        def on_log(line: str) -> None:
            self.store.append_log(ns, name, line)

        bound: set[int] = set()
        for c in rt.containers:
            body, ctype = None, "text/html"
            if images.repository(c.image) == "hashicorp/http-echo":
                text = "hello-world"
                for a in (c.spec.get("args") or []):
                    if str(a).startswith(("-text=", "--text=")):
                        text = str(a).split("=", 1)[1]
                body, ctype = text + "\n", "text/plain; charset=utf-8"
            for port in self._served_ports(c):
                if port in bound:  # two containers declaring one port: the first one serves it
                    continue
                server = PodHTTPServer(rt.ip, port, name, rt.node or "", on_log, body=body, content_type=ctype)
                try:
                    await server.bind()
                except OSError as e:
                    return port, e
                bound.add(port)
                rt.servers.append(server)
                c.servers.append(server)
        return None

    async def _pull(self, key: Key, rt: PodRuntime, c: ContainerState) -> None:
        policy = c.spec.get("imagePullPolicy") or "IfNotPresent"
        pulled = self._pulled.setdefault(rt.node or "", set())
        ok = images.allowed(c.image, self.config.image_allowlist)
        if policy != "Always" and c.image in pulled and ok:
            pod = self._get(key, rt)
            if pod:
                await self._event(pod, "Pulled", f'Container image "{c.image}" already present on machine')
            c.image_id = images.image_id(c.image)
            return
        attempt = 0
        while True:
            pod = self._get(key, rt)
            if pod is None:
                raise asyncio.CancelledError()
            await self._event(pod, "Pulling", f'Pulling image "{c.image}"')
            started = time.monotonic()
            await asyncio.sleep(self.delays.image_pull)
            pod = self._get(key, rt)
            if pod is None:
                raise asyncio.CancelledError()
            if ok:
                took = time.monotonic() - started
                await self._event(pod, "Pulled",
                                  f'Successfully pulled image "{c.image}" in {took:.3f}s ({took:.3f}s including '
                                  f'waiting). Image size: {images.image_size(c.image)} bytes.')
                pulled.add(c.image)
                c.image_id = images.image_id(c.image)
                return
            ref = images.full_reference(c.image)
            message = (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
                       "pull access denied, repository does not exist or may require authorization: "
                       "server message: insufficient_scope: authorization failed")
            await self._event(pod, "Failed", f'Failed to pull image "{c.image}": {message}', "Warning")
            await self._event(pod, "Failed", "Error: ErrImagePull", "Warning")
            c.state = {"waiting": {"reason": "ErrImagePull",
                                   "message": f'failed to pull image "{c.image}": {message}'}}
            await self._publish(key, rt)
            await asyncio.sleep(min(self.delays.backoff, 1.0) / 2)
            pod = self._get(key, rt)
            if pod is None:
                raise asyncio.CancelledError()
            c.state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c.image}"'}}
            await self._publish(key, rt)
            await self._event(pod, "BackOff", f'Back-off pulling image "{c.image}"')
            await self._event(pod, "Failed", "Error: ImagePullBackOff", "Warning")
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return min(self.delays.backoff * 2 ** attempt, self.delays.backoff * 30)

    async def _create_start(self, key: Key, rt: PodRuntime, c: ContainerState) -> None:
        pod = self._get(key, rt)
        if pod is None:
            raise asyncio.CancelledError()
        await self._event(pod, "Created", f"Created container: {c.name}")
        await asyncio.sleep(self.delays.container_start)
        pod = self._get(key, rt)
        if pod is None:
            raise asyncio.CancelledError()
        c.container_id = "containerd://" + secrets.token_hex(32)
        await self._event(pod, "Started", f"Started container {c.name}")
        c.ever_started = True

    async def _run_container(self, key: Key, rt: PodRuntime, c: ContainerState) -> None:
        await self._pull(key, rt, c)
        code = images.exit_code(c.spec)
        policy = ((self._get(key, rt) or {}).get("spec") or {}).get("restartPolicy", "Always")
        attempt = 0
        while True:
            await self._create_start(key, rt, c)
            started_at = now()
            c.state = {"running": {"startedAt": started_at}}
            c.started = True
            if code is None:
                c.ready = await self._serve(key, rt, c)
                await self._publish(key, rt)
                return
            c.ready = False
            await self._publish(key, rt)
            await asyncio.sleep(self.delays.container_start)
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "startedAt": started_at, "finishedAt": now(), "containerID": c.container_id}
            c.started = False
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                c.state = {"terminated": terminated}
                await self._publish(key, rt)
                return
            c.last_state = {"terminated": terminated}
            c.restart_count += 1
            pod = self._get(key, rt)
            if pod is None:
                return
            c.state = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": f"back-off {int(self._backoff(attempt) * 10 / self.delays.backoff)}s "
                                              f"restarting failed container={c.name} pod={key[1]}_{key[0]}"
                                              f"({rt.uid})"}}
            await self._publish(key, rt)
            await self._event(pod, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                                              f"{key[1]}_{key[0]}({rt.uid})", "Warning")
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    async def _serve(self, key: Key, rt: PodRuntime, c: ContainerState) -> bool:
        """Start accepting on the container's ports (bound with the sandbox); False if one
        cannot listen, which leaves the container running but never ready."""
        ns, name = key
        if images.repository(c.image) in ("nginx", "nginxinc/nginx-unprivileged"):
            self.store.append_log(ns, name, *nginx_startup_lines())
        for server in c.servers:
            try:
                await server.serve()
            except OSError as e:
                log.warning("pod %s/%s cannot listen on %s:%s: %s", ns, name, server.ip, server.port, e)
                pod = self._get(key, rt)
                if pod is not None:
                    await self._event(pod, "Failed", f"Error: listen tcp {server.ip}:{server.port}: "
                                                     f"{_strerror(e)}", "Warning")
                return False
        return True

    async def _terminate(self, key: Key, rt: PodRuntime) -> None:
        ns, name = key
        try:
            if rt.task:
                rt.task.cancel()
            pod = self.store.get("pods", ns, name)
            if pod is None or pod["metadata"]["uid"] != rt.uid:
                return
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            started = [c for c in rt.containers if c.started] or [
                ContainerState(c) for c in (pod.get("spec") or {}).get("containers") or []
                if (pod.get("status") or {}).get("phase") == "Running"]
            for c in started:
                await self._event(pod, "Killing", f"Stopping container {c.name}")
            await rt.close_servers()
            if any(images.repository(c.image) in ("nginx", "nginxinc/nginx-unprivileged") for c in started):
                stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
                self.store.append_log(ns, name, f"{stamp} [notice] 1#1: signal 3 (SIGQUIT) received, shutting down",
                                      f"{stamp} [notice] 1#1: exiting")
            delay = self.delays.pod_terminate
            if grace is not None:
                delay = min(delay, float(grace))
            await asyncio.sleep(delay)
            current = self.store.get("pods", ns, name)
            if current is not None and current["metadata"]["uid"] == rt.uid:
                await self.store.remove("pods", ns, name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("terminating pod %s/%s failed", ns, name)
        finally:
            await rt.close_servers()
            self.pool.release(rt.ip)
            if self.pods.get(key) is rt:
                del self.pods[key]
