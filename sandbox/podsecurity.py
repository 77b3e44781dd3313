"""Pod Security Admission, as the real API server's PodSecurity plugin does it (Pod Security Standards).

A namespace labelled `pod-security.kubernetes.io/enforce: baseline` (or `restricted`) refuses a pod that
violates that level: 403 Forbidden, `pods "x" is forbidden: violates PodSecurity "baseline:latest":
host namespaces (hostNetwork=true), privileged (container "c" must not set securityContext.privileged=true)`.
The `warn` label's level gives a `Warning` header (`would violate PodSecurity "restricted:latest": ...`)
on pods and on the workloads that make pods (Deployment, ReplicaSet, ...): those are never refused, their
pods are, when the ReplicaSet controller creates them (a FailedCreate event). Without labels, nothing
is checked (the API server's default policy is privileged).

The checks, their order and their messages are those of k8s.io/pod-security-admission at the version
this sandbox reports (1.32); a `*-version` label names the version in messages, the rules stay 1.32's.
"""

from __future__ import annotations

import re

from .store import Forbidden

LABEL = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
VERSION = re.compile(r"^(latest|v1\.(0|[1-9][0-9]*))$")
# Where each workload keeps the pods it makes.
TEMPLATE_PATHS = {
    "deployments": ("spec", "template"), "replicasets": ("spec", "template"),
    "statefulsets": ("spec", "template"), "daemonsets": ("spec", "template"), "jobs": ("spec", "template"),
    "replicationcontrollers": ("spec", "template"), "podtemplates": ("template",),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"),
}

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem",
                "net.ipv4.tcp_wmem"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
                   "projected", "secret"}
RESTRICTED_VOLUME_TYPES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
                           "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
                           "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
                           "scaleIO", "storageos")


# ---- the namespace's policy --------------------------------------------------------------------------

def policy(labels: dict) -> dict[str, tuple[str, str]]:
    """{"enforce"|"warn": (level, version)} from a namespace's labels. An unknown enforce level counts as
    restricted (fail closed); an unknown warn level as privileged. Warn defaults to a stricter enforce."""
    out = {}
    for mode, fail in (("enforce", "restricted"), ("warn", "privileged")):
        level = labels.get(LABEL + mode, "privileged")
        out[mode] = (level if level in LEVELS else fail, _version(labels.get(f"{LABEL}{mode}-version")))
    if LABEL + "warn" not in labels and LEVELS.index(out["enforce"][0]) > LEVELS.index(out["warn"][0]):
        out["warn"] = (out["enforce"][0], _version(labels.get(LABEL + "warn-version")) if LABEL + "warn-version"
                       in labels else out["enforce"][1])
    return out


def _version(value) -> str:
    """`latest` or `v1.<minor>`; anything else counts as latest, as the real plugin parses it."""
    return value if isinstance(value, str) and VERSION.match(value) else "latest"


# ---- helpers as the real checks word them --------------------------------------------------------------

def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _quote(items) -> str:
    return ", ".join(f'"{i}"' for i in items)


def _containers(spec: dict) -> list[dict]:
    return [c for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or [] if isinstance(c, dict)]


def _sc(obj: dict) -> dict:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _named(what: str, names: list[str]) -> str:
    return f"{_plural(what, what + 's', len(names))} {_quote(names)}"


def _setters(pod_bad: bool, containers: list[str]) -> str:
    parts = (["pod"] if pod_bad else []) + ([_named("container", containers)] if containers else [])
    return " and ".join(parts)


def _windows(spec: dict) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


# ---- baseline ---------------------------------------------------------------------------------------

def app_armor(meta, spec):
    bad_values = set()
    pod_profile = _sc(spec).get("appArmorProfile")
    pod_bad = isinstance(pod_profile, dict) and pod_profile.get("type") not in ("RuntimeDefault", "Localhost")
    if pod_bad:
        bad_values.add(str(pod_profile.get("type")))
    bad = []
    for c in _containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in ("RuntimeDefault", "Localhost"):
            bad.append(c.get("name"))
            bad_values.add(str(profile.get("type")))
    annotations = sorted(f'{k}="{v}"' for k, v in (meta.get("annotations") or {}).items()
                         if k.startswith(APPARMOR_ANNOTATION)
                         and not (v in ("", "runtime/default") or str(v).startswith("localhost/")))
    setters = [_setters(pod_bad, bad)] if (pod_bad or bad) else []
    values = sorted(bad_values) + annotations
    if annotations:
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if setters:
        return (_plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
                f"{' and '.join(setters)} must not set AppArmor profile type to {_quote(values)}")


def capabilities_baseline(meta, spec):
    bad, caps = [], set()
    for c in _containers(spec):
        added = [a for a in ((_sc(c).get("capabilities") or {}).get("add") or []) if a not in BASELINE_CAPABILITIES]
        if added:
            bad.append(c.get("name"))
            caps.update(added)
    if bad:
        return ("non-default capabilities",
                f"{_named('container', bad)} must not include {_quote(sorted(caps))} in securityContext.capabilities.add")


def host_namespaces(meta, spec):
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    if used:
        return "host namespaces", ", ".join(used)


def host_path_volumes(meta, spec):
    bad = [v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("hostPath") is not None]
    if bad:
        return "hostPath volumes", _named("volume", bad)


def host_ports(meta, spec):
    bad, ports = [], set()
    for c in _containers(spec):
        used = [str(p.get("hostPort")) for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad.append(c.get("name"))
            ports.update(used)
    if bad:
        return ("hostPort", f"{_named('container', bad)} {_plural('uses', 'use', len(bad))} "
                            f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def privileged(meta, spec):
    bad = [c.get("name") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return "privileged", f"{_named('container', bad)} must not set securityContext.privileged=true"


def proc_mount(meta, spec):
    bad, kinds = [], set()
    for c in _containers(spec):
        value = _sc(c).get("procMount")
        if value is not None and value != "Default":
            bad.append(c.get("name"))
            kinds.add(str(value))
    if bad:
        return "procMount", f"{_named('container', bad)} must not set securityContext.procMount to {_quote(sorted(kinds))}"


def se_linux_options(meta, spec):
    types, flags = set(), set()

    def valid(options) -> bool:
        ok = True
        if options.get("type", "") not in SELINUX_TYPES:
            ok = False
            types.add(options.get("type"))
        for key in ("user", "role"):
            if options.get(key):
                ok = False
                flags.add(key)
        return ok

    pod_options = _sc(spec).get("seLinuxOptions")
    pod_bad = isinstance(pod_options, dict) and not valid(pod_options)
    bad = [c.get("name") for c in _containers(spec)
           if isinstance(_sc(c).get("seLinuxOptions"), dict) and not valid(_sc(c)["seLinuxOptions"])]
    if pod_bad or bad:
        data = ([f"{_plural('type', 'types', len(types))} {_quote(sorted(types))}"] if types else []) + \
               [f"{key} may not be set" for key in ("user", "role") if key in flags]
        return ("seLinuxOptions",
                f"{_setters(pod_bad, bad)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}")


def _seccomp_type(sc: dict):
    profile = sc.get("seccompProfile")
    return profile.get("type") if isinstance(profile, dict) else None


def seccomp_baseline(meta, spec):
    values = set()
    pod_type = _seccomp_type(_sc(spec))
    pod_bad = pod_type is not None and pod_type not in ("RuntimeDefault", "Localhost")
    if pod_bad:
        values.add(pod_type)
    bad = []
    for c in _containers(spec):
        kind = _seccomp_type(_sc(c))
        if kind is not None and kind not in ("RuntimeDefault", "Localhost"):
            bad.append(c.get("name"))
            values.add(kind)
    if pod_bad or bad:
        return ("seccompProfile",
                f"{_setters(pod_bad, bad)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")


def sysctls(meta, spec):
    bad = [s.get("name") for s in _sc(spec).get("sysctls") or [] if isinstance(s, dict)
           and s.get("name") not in SAFE_SYSCTLS]
    if bad:
        return "forbidden sysctls", ", ".join(bad)


def windows_host_process(meta, spec):
    pod_bad = (_sc(spec).get("windowsOptions") or {}).get("hostProcess") is True
    bad = [c.get("name") for c in _containers(spec) if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True]
    if pod_bad or bad:
        return "hostProcess", f"{_setters(pod_bad, bad)} must not set securityContext.windowsOptions.hostProcess=true"


# ---- restricted -------------------------------------------------------------------------------------

def allow_privilege_escalation(meta, spec):
    if _windows(spec):
        return None
    bad = [c.get("name") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return ("allowPrivilegeEscalation != false",
                f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false")


def capabilities_restricted(meta, spec):
    if _windows(spec):
        return None
    missing_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(c.get("name"))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing_drop.append(c.get("name"))
        added = [a for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if added:
            adding.append(c.get("name"))
            caps.update(added)
    details = []
    if missing_drop:
        details.append(f'{_named("container", missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named('container', adding)} must not include {_quote(sorted(caps))} in "
                       "securityContext.capabilities.add")
    if details:
        return "unrestricted capabilities", "; ".join(details)


def restricted_volumes(meta, spec):
    bad, kinds = [], set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict) or ALLOWED_VOLUMES & set(v):
            continue
        bad.append(v.get("name"))
        kinds.add(next((k for k in RESTRICTED_VOLUME_TYPES if v.get(k) is not None), "unknown"))
    if bad:
        return ("restricted volume types",
                f"{_named('volume', bad)} {_plural('uses', 'use', len(bad))} "
                f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} {_quote(sorted(kinds))}")


def run_as_non_root(meta, spec):
    pod_value = _sc(spec).get("runAsNonRoot")
    explicit = [c.get("name") for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    implicit = [c.get("name") for c in _containers(spec) if _sc(c).get("runAsNonRoot") is None and pod_value is not True]
    if pod_value is False or explicit:
        return ("runAsNonRoot != true",
                f"{_setters(pod_value is False, explicit)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true")


def run_as_user(meta, spec):
    pod_bad = _sc(spec).get("runAsUser") == 0
    bad = [c.get("name") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if pod_bad or bad:
        return "runAsUser=0", f"{_setters(pod_bad, bad)} must not set runAsUser=0"


def seccomp_restricted(meta, spec):
    if _windows(spec):
        return None
    values = set()
    pod_type = _seccomp_type(_sc(spec))
    pod_bad = pod_type is not None and pod_type not in ("RuntimeDefault", "Localhost")
    if pod_bad:
        values.add(pod_type)
    pod_set = pod_type in ("RuntimeDefault", "Localhost")
    explicit, implicit = [], []
    for c in _containers(spec):
        kind = _seccomp_type(_sc(c))
        if kind is not None:
            if kind not in ("RuntimeDefault", "Localhost"):
                explicit.append(c.get("name"))
                values.add(kind)
        elif not pod_set:
            implicit.append(c.get("name"))
    if pod_bad or explicit:
        return ("seccompProfile",
                f"{_setters(pod_bad, explicit)} must not set securityContext.seccompProfile.type to {_quote(sorted(values))}")
    if implicit:
        return ("seccompProfile", f"pod or {_named('container', implicit)} must set securityContext.seccompProfile.type "
                                  'to "RuntimeDefault" or "Localhost"')


# Each level's checks in the real evaluator's order: baseline checks by id, then restricted ones by id;
# a restricted check replaces the baseline one it overrides.
BASELINE = {"appArmorProfile": app_armor, "capabilities_baseline": capabilities_baseline,
            "hostNamespaces": host_namespaces, "hostPathVolumes": host_path_volumes, "hostPorts": host_ports,
            "privileged": privileged, "procMount": proc_mount, "seLinuxOptions": se_linux_options,
            "seccompProfile_baseline": seccomp_baseline, "sysctls": sysctls,
            "windowsHostProcess": windows_host_process}
RESTRICTED = {"allowPrivilegeEscalation": allow_privilege_escalation,
              "capabilities_restricted": capabilities_restricted, "restrictedVolumes": restricted_volumes,
              "runAsNonRoot": run_as_non_root, "runAsUser": run_as_user,
              "seccompProfile_restricted": seccomp_restricted}
OVERRIDDEN = {"capabilities_baseline", "hostPathVolumes", "seccompProfile_baseline"}
CHECKS = {
    "privileged": [],
    "baseline": [BASELINE[k] for k in sorted(BASELINE)],
    "restricted": [BASELINE[k] for k in sorted(BASELINE) if k not in OVERRIDDEN] + [RESTRICTED[k] for k in sorted(RESTRICTED)],
}


def violations(level: str, meta: dict, spec: dict) -> str:
    """The forbidden detail of a pod at a level ("" when it complies): `reason (detail), reason (detail)`."""
    meta = meta if isinstance(meta, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    found = [r for r in (check(meta, spec) for check in CHECKS[level]) if r]
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in found)


# ---- admission ---------------------------------------------------------------------------------------

def _namespace_policy(store, namespace: str):
    ns = store.get("namespaces", None, namespace)
    labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
    if not any(k.startswith(LABEL) for k in labels):
        return None
    return policy(labels)


def _significant_update(pod: dict, old: dict | None) -> bool:
    """As the real plugin: a pod update is checked again only when its containers or their images change."""
    if old is None:
        return True
    new_spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    for key in ("containers", "initContainers"):
        new, before = new_spec.get(key) or [], old_spec.get(key) or []
        if len(new) != len(before) or any(a.get("image") != b.get("image") for a, b in zip(new, before, strict=True)):
            return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
    return any(c.get("name") not in old_ephemeral or c.get("image") != old_ephemeral[c.get("name")].get("image")
               for c in new_spec.get("ephemeralContainers") or [])


def admit(store, resource: str, obj: dict, operation: str, old: dict | None = None) -> list[str]:
    """Raise Forbidden for a pod the namespace's enforce level refuses; return the Warning texts."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    if not namespace or (resource != "pods" and resource not in TEMPLATE_PATHS):
        return []
    rules = _namespace_policy(store, namespace)
    if rules is None:
        return []
    if resource == "pods":
        if operation == "UPDATE" and not _significant_update(obj, old):
            return []
        pod_meta, pod_spec = meta, obj.get("spec")
        (level, version) = rules["enforce"]
        if level != "privileged":
            detail = violations(level, pod_meta, pod_spec)
            if detail:
                raise Forbidden(f'pods "{meta.get("name", "")}" is forbidden: violates PodSecurity '
                                f'"{level}:{version}": {detail}')
    else:
        template = obj
        for key in TEMPLATE_PATHS[resource]:
            template = template.get(key) if isinstance(template, dict) else None
        if not isinstance(template, dict):
            return []
        pod_meta, pod_spec = template.get("metadata"), template.get("spec")
    level, version = rules["warn"]
    if level == "privileged":
        return []
    detail = violations(level, pod_meta, pod_spec)
    return [f'would violate PodSecurity "{level}:{version}": {detail}'] if detail else []
