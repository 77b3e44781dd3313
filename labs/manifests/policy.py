"""The lab's rules for what a learner may create: kinds, namespace, images, sizes and safety."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .problems import Document, Path, Problem
from .wording import closest, join_names


@dataclass(frozen=True)
class Policy:
    allowed_kinds: tuple[str, ...] = ("Deployment", "Service")
    image_allowlist: tuple[str, ...] = ("nginx",)
    max_replicas: int = 5
    max_bytes: int = 20_000
    max_documents: int = 10
    require_service_type: str | None = None
    # Annotation keys a learner may set besides ALWAYS_ALLOWED_ANNOTATIONS: exact keys, or "prefix/*".
    annotation_allowlist: tuple[str, ...] = ()
    # Whether containers may replace the image's entrypoint and arguments (command, args).
    allow_command: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_kinds", tuple(self.allowed_kinds))
        object.__setattr__(self, "image_allowlist", tuple(self.image_allowlist))
        object.__setattr__(self, "annotation_allowlist", tuple(self.annotation_allowlist))

    def allows_annotation(self, key: str) -> bool:
        return key in ALWAYS_ALLOWED_ANNOTATIONS or any(
            fnmatchcase(key, pattern) if pattern.endswith("/*") else key == pattern
            for pattern in self.annotation_allowlist)


# Annotations that kubectl and the live panel write themselves (a restart, an applied revision):
# harmless, and a live object brought back into the editor carries them.
ALWAYS_ALLOWED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/restartedAt", "kubectl.kubernetes.io/last-applied-configuration",
    "kubernetes.io/change-cause", "kubernetes.io/description", "deployment.kubernetes.io/revision",
})
# Cloud load-balancer annotations that reach beyond the learner's own balancer, with what each would do.
CLOUD_ANNOTATIONS = {
    "loadbalancer.openstack.org/load-balancer-id":
        "would take over an existing load balancer of the cloud, perhaps another student's",
    "service.beta.kubernetes.io/openstack-internal-load-balancer":
        "would make the balancer internal, with no public address, on the cloud's private network",
    "loadbalancer.openstack.org/floating-network-id": "would take the public address from a network you choose",
    "loadbalancer.openstack.org/floating-subnet": "would take the public address from a subnet you choose",
    "loadbalancer.openstack.org/floating-subnet-id": "would take the public address from a subnet you choose",
    "loadbalancer.openstack.org/subnet-id": "would place the balancer on a subnet of the cloud you choose",
    "loadbalancer.openstack.org/network-id": "would place the balancer on a network of the cloud you choose",
    "loadbalancer.openstack.org/port-id": "would give the balancer an existing port (and its address) of the cloud",
}


# Where the pod spec lives in each kind that makes pods.
POD_SPEC_PATHS: dict[str, Path] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
HOST_NAMESPACES = {"hostNetwork": "the node's network", "hostPID": "the node's processes",
                   "hostIPC": "the node's shared memory"}
DOCKER_HUB_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/", "library/")


def dig(obj: Any, path: Path) -> Any:
    """The value at `path`, or None when any step is missing or of the wrong type."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[part] if isinstance(part, int) else obj.get(part)
    return obj


def image_repository(image: str) -> str:
    """'docker.io/library/nginx:1.27@sha256:...' -> 'nginx'."""
    ref = image.strip().split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        ref = ref[:colon]
    for prefix in DOCKER_HUB_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    return ref


def containers(doc: Document) -> list[tuple[Path, dict]]:
    """Every container of a pod-making document, with its path."""
    pod_path = POD_SPEC_PATHS.get(doc.kind)
    if pod_path is None:
        return []
    found = []
    for list_name in CONTAINER_LISTS:
        items = dig(doc.obj, pod_path + (list_name,))
        if isinstance(items, list):
            found.extend((pod_path + (list_name, i), c) for i, c in enumerate(items) if isinstance(c, dict))
    return found


def check_policy(documents: list[Document], *, namespace: str, policy: Policy) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Document] = {}
    for doc in documents:
        if doc.kind not in policy.allowed_kinds:
            problems.append(_kind_not_allowed(doc, policy))
            continue
        if doc.name is None:
            problems.append(doc.problem(
                "missing-name", ("metadata", "name"), f"This {doc.kind} has no metadata.name.",
                "Give it a name, e.g. metadata: {name: lb-test}."))
        else:
            key = (doc.kind, doc.name)
            if key in seen:
                problems.append(doc.problem(
                    "duplicate", ("metadata", "name"),
                    f"{doc.title} is defined twice (documents {seen[key].index + 1} and {doc.index + 1}).",
                    "Give each object its own name, or remove one of the copies."))
            else:
                seen[key] = doc
        problems.extend(_namespace(doc, namespace))
        problems.extend(_pod_safety(doc))
        problems.extend(_images(doc, policy))
        problems.extend(_replicas(doc, policy))
        problems.extend(_service_addresses(doc))
        problems.extend(_finalizers(doc))
        problems.extend(_owner_references(doc))
        problems.extend(_annotations(doc, policy))
        problems.extend(_pod_placement(doc))
        problems.extend(_container_powers(doc, policy))
    return problems


def _template_metadata(doc: Document) -> list[Path]:
    """Where the object's metadata lives, and that of the pods it makes."""
    pod_path = POD_SPEC_PATHS.get(doc.kind)
    paths: list[Path] = [("metadata",)]
    if pod_path and len(pod_path) > 1:
        paths.append(pod_path[:-1] + ("metadata",))
    return paths


def _owner_references(doc: Document) -> list[Problem]:
    """An object owned by something else is deleted with it, or adopted by its controller."""
    problems = []
    for meta in _template_metadata(doc):
        path = meta + ("ownerReferences",)
        if dig(doc.obj, path) not in (None, []):
            where = ".".join(path)
            problems.append(doc.problem(
                "owner-references", path,
                f"{doc.title}: {where} makes it belong to another object, which the cluster could delete it "
                "with or hand to that object's controller; this lab does not allow it.",
                f"Remove {where}: the cluster sets owners itself (a Deployment owns its ReplicaSets and pods)."))
    return problems


def _annotations(doc: Document, policy: Policy) -> list[Problem]:
    problems = []
    for meta in _template_metadata(doc):
        annotations = dig(doc.obj, meta + ("annotations",))
        if not isinstance(annotations, dict):
            continue  # a wrong type is explained by the schema check
        for key in annotations:
            key = str(key)
            if policy.allows_annotation(key):
                continue
            path = meta + ("annotations", key)
            why = CLOUD_ANNOTATIONS.get(key)
            message = f'{doc.title}: the annotation "{key}" '
            message += f"{why}, which this lab does not allow." if why else "is not one this lab allows."
            allowed = sorted(policy.annotation_allowlist)
            hint = f"Remove it. Annotations this lab allows: {', '.join(allowed)}." if allowed else \
                "Remove it: this lab needs no annotations."
            problems.append(doc.problem("annotation-not-allowed", path, message, hint))
    return problems


def _pod_placement(doc: Document) -> list[Problem]:
    """A pod template that picks its node, or carries debugging containers."""
    pod_path = POD_SPEC_PATHS.get(doc.kind)
    pod_spec = dig(doc.obj, pod_path) if pod_path else None
    if not isinstance(pod_spec, dict):
        return []
    problems = []
    if pod_spec.get("nodeName") not in (None, ""):
        problems.append(doc.problem(
            "node-name", pod_path + ("nodeName",),
            f"{doc.title} sets nodeName, which places its pods on one node without the scheduler (and skips "
            "its checks); this lab does not allow it.", "Remove nodeName: the scheduler chooses a node."))
    if pod_spec.get("ephemeralContainers") not in (None, []):
        problems.append(doc.problem(
            "ephemeral-containers", pod_path + ("ephemeralContainers",),
            f"{doc.title} declares ephemeralContainers, debugging containers that are added to a running pod, "
            "never written in a manifest; the cluster refuses them here.", "Remove ephemeralContainers."))
    security = pod_spec.get("securityContext")
    if isinstance(security, dict) and dig(security, ("capabilities", "add")) not in (None, []):
        problems.append(_capabilities(doc, pod_path + ("securityContext", "capabilities", "add"), doc.title))
    return problems


def _capabilities(doc: Document, path: Path, label: str) -> Problem:
    return doc.problem(
        "capabilities", path,
        f"{label} adds Linux capabilities (securityContext.capabilities.add), powers beyond what a container "
        "normally has; this lab does not allow it.",
        "Remove capabilities.add (dropping capabilities with capabilities.drop is fine).")


def _container_powers(doc: Document, policy: Policy) -> list[Problem]:
    """Capabilities, ports on the node itself, and (unless the lab allows them) command and args."""
    problems = []
    for path, container in containers(doc):
        label = f'Container "{container.get("name", path[-1])}" of {doc.title}'
        security = container.get("securityContext")
        if isinstance(security, dict) and dig(security, ("capabilities", "add")) not in (None, []):
            problems.append(_capabilities(doc, path + ("securityContext", "capabilities", "add"), label))
        ports = container.get("ports")
        for index, port in enumerate(ports if isinstance(ports, list) else []):
            if isinstance(port, dict) and port.get("hostPort") not in (None, 0):
                problems.append(doc.problem(
                    "host-port", path + ("ports", index, "hostPort"),
                    f"{label}: ports[{index}].hostPort opens a port on the node itself, which this lab does "
                    "not allow.", "Remove hostPort: the Service brings traffic to containerPort."))
        if not policy.allow_command:
            for key in ("command", "args"):
                if container.get(key) not in (None, []):
                    problems.append(doc.problem(
                        "command-not-allowed", path + (key,),
                        f"{label} sets {key}, which replaces what the image runs; this lab runs its images "
                        "as they are.", f"Remove {key}."))
    return problems


# Where an object (or the pods a Deployment makes) would carry finalizers.
FINALIZER_PATHS = (("metadata", "finalizers"), ("spec", "template", "metadata", "finalizers"))


def _finalizers(doc: Document) -> list[Problem]:
    """A finalizer no controller of the lab removes would keep the object, and the lab, from ever ending."""
    problems = []
    for path in FINALIZER_PATHS:
        if dig(doc.obj, path) not in (None, []):
            where = ".".join(path)
            problems.append(doc.problem(
                "finalizers", path,
                f"{doc.title}: {where} holds the object when it is deleted until a controller removes it; "
                "no controller of this lab would, so it could never be deleted.",
                f"Remove {where}: the cluster and the cloud add the finalizers they need themselves."))
    return problems


# Service fields that claim addresses or node ports: the cloud and the cluster choose them.
# On a shared cluster, spec.externalIPs would let one student take another's traffic.
SERVICE_ADDRESS_FIELDS = {
    ("spec", "externalIPs"): "spec.externalIPs makes the cluster route traffic for any address you name to your pods",
    ("spec", "loadBalancerIP"): "spec.loadBalancerIP asks the cloud for a particular address",
}


def _service_addresses(doc: Document) -> list[Problem]:
    if doc.kind != "Service":
        return []
    problems = []
    for path, why in SERVICE_ADDRESS_FIELDS.items():
        if dig(doc.obj, path) not in (None, "", []):
            problems.append(doc.problem(
                "service-address", path, f"{doc.title}: {why}, which this lab does not allow.",
                "Remove it: the load balancer's address comes from the cloud."))
    for index, port in enumerate(dig(doc.obj, ("spec", "ports")) or []):
        if isinstance(port, dict) and port.get("nodePort") not in (None, ""):
            problems.append(doc.problem(
                "service-address", ("spec", "ports", index, "nodePort"),
                f"{doc.title}: ports[{index}].nodePort picks a port on every node, which this lab does not allow.",
                "Remove nodePort: the cluster chooses one."))
    return problems


def _kind_not_allowed(doc: Document, policy: Policy) -> Problem:
    allowed = join_names(policy.allowed_kinds)
    suggestion = closest(doc.kind, policy.allowed_kinds)
    message = f'Kind "{doc.kind}" is not part of this lab'
    message += f' (did you mean "{suggestion}"?)' if suggestion else ""
    return doc.problem("kind-not-allowed", ("kind",), f"{message}; here you can create {allowed}.",
                       f"Change kind to {suggestion}." if suggestion else f"Remove this document ({doc.title}).")


def _namespace(doc: Document, namespace: str) -> list[Problem]:
    value = dig(doc.obj, ("metadata", "namespace"))
    if value in (None, "") or value == namespace:
        return []
    return [doc.problem(
        "namespace", ("metadata", "namespace"),
        f'{doc.title} is set to namespace "{value}", but your lab objects live in namespace "{namespace}".',
        "Remove the namespace line: your objects go to your lab namespace automatically.")]


def _pod_safety(doc: Document) -> list[Problem]:
    pod_path = POD_SPEC_PATHS.get(doc.kind)
    if pod_path is None:
        return []
    problems = []
    pod_spec = dig(doc.obj, pod_path)
    if isinstance(pod_spec, dict):
        for key, what in HOST_NAMESPACES.items():
            if pod_spec.get(key) is True:
                problems.append(doc.problem(
                    "host-network", pod_path + (key,),
                    f"{doc.title} asks for {key}: true, which would let its pods use {what}; "
                    "that is not allowed in the lab.", f"Remove {key}."))
        volumes = pod_spec.get("volumes")
        for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
            if isinstance(volume, dict) and "hostPath" in volume:
                problems.append(doc.problem(
                    "host-path", pod_path + ("volumes", i, "hostPath"),
                    f'Volume "{volume.get("name", i)}" of {doc.title} mounts a folder of the node (hostPath), '
                    "which is not allowed in the lab.", "Use an emptyDir volume instead."))
    for path, container in containers(doc):
        security = container.get("securityContext")
        if not isinstance(security, dict):
            continue
        label = f'Container "{container.get("name", path[-1])}" of {doc.title}'
        if security.get("privileged") is True:
            problems.append(doc.problem(
                "privileged", path + ("securityContext", "privileged"),
                f"{label} asks to run privileged, which is not allowed in the lab.", "Remove privileged: true."))
        if security.get("allowPrivilegeEscalation") is True:
            problems.append(doc.problem(
                "privileged", path + ("securityContext", "allowPrivilegeEscalation"),
                f"{label} sets allowPrivilegeEscalation: true, which is not allowed in the lab.",
                "Remove it or set allowPrivilegeEscalation: false."))
    return problems


def _images(doc: Document, policy: Policy) -> list[Problem]:
    allowed = {image_repository(a): a for a in policy.image_allowlist}
    allowed_text = ", ".join(policy.image_allowlist)
    problems = []
    for path, container in containers(doc):
        label = f'Container "{container.get("name", path[-1])}" of {doc.title}'
        image = container.get("image")
        if image is None or (isinstance(image, str) and not image.strip()):
            problems.append(doc.problem("missing-image", path + ("image",), f"{label} has no image.",
                                        f"Add an image, e.g. image: {policy.image_allowlist[0]}"
                                        if policy.image_allowlist else None))
            continue
        if not isinstance(image, str):
            continue  # the schema check explains the wrong type
        repository = image_repository(image)
        if repository in allowed:
            continue
        suggestion = closest(repository, list(allowed))
        message = f'{label} uses image "{image}", which is not allowed in this lab'
        message += f" (did you mean {suggestion}?)" if suggestion else "."
        problems.append(doc.problem("image-not-allowed", path + ("image",), message,
                                    f"Allowed images: {allowed_text}."))
    return problems


def _replicas(doc: Document, policy: Policy) -> list[Problem]:
    if doc.kind not in ("Deployment", "ReplicaSet", "StatefulSet"):
        return []
    replicas = dig(doc.obj, ("spec", "replicas"))
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        return []
    if replicas > policy.max_replicas:
        return [doc.problem("too-many-replicas", ("spec", "replicas"),
                            f"{doc.title} asks for {replicas} replicas; this lab allows at most {policy.max_replicas}.",
                            f"Set replicas to {min(3, policy.max_replicas)}.")]
    return []
