"""Decode request bodies kubectl sends as `application/vnd.kubernetes.protobuf`.

The envelope is the 4-byte magic ``k8s\\x00`` followed by a ``runtime.Unknown`` message
(1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType); ``raw``
is the object encoded per k8s.io/api's generated.proto. The decoder below is a plain
protobuf wire-format reader driven by tables (field number -> JSON name, type, nested
message) for the kinds that typed clients create: namespaces, configmaps, secrets,
service accounts, pods, services, deployments, replica sets, quotas, limit ranges.

The result is the JSON form of the object. Go's protobuf marshaller writes non-pointer
fields even when they hold their zero value; JSON drops those (``omitempty``), so zero
values are dropped here too, except for fields marked ``ptr`` (Go pointers, where an
explicit zero or an empty struct means something, e.g. ``replicas: 0`` or ``emptyDir: {}``).
Unknown fields are skipped.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message."""


class UnknownKind(ProtobufError):
    """The envelope names a kind this decoder has no table for."""


# ---- wire format ------------------------------------------------------------------------------

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint too long")


def fields(buf: bytes):
    """Yield (field number, wire type, value) for each field of one message: ints for
    varints and fixed-width fields, bytes for length-delimited ones."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0")
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire == FIXED64:
            if pos + 8 > end:
                raise ProtobufError("truncated fixed64")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == LEN:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ProtobufError("truncated length-delimited field")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == FIXED32:
            if pos + 4 > end:
                raise ProtobufError("truncated fixed32")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield num, wire, value


def _signed(v: int, bits: int = 64) -> int:
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    if bits == 32:
        v = (v + (1 << 31)) % (1 << 32) - (1 << 31)
    return v


# ---- schema tables ----------------------------------------------------------------------------

@dataclass(frozen=True)
class F:
    name: str
    kind: str  # string, bytes, int32, int64, bool, msg, map
    msg: str | None = None  # nested message name (kind msg), or the map value: string, bytes or a message
    repeated: bool = False
    ptr: bool = False  # a Go pointer: keep explicit zero values / empty structs
    inline: bool = False  # an embedded struct whose fields JSON inlines into the parent


def s(name, **kw):
    return F(name, "string", **kw)


def i32(name, **kw):
    return F(name, "int32", **kw)


def i64(name, **kw):
    return F(name, "int64", **kw)


def b(name, **kw):
    return F(name, "bool", **kw)


def m(name, msg, **kw):
    return F(name, "msg", msg, **kw)


def mp(name, value="string"):
    return F(name, "map", value)


def strs(name):
    return F(name, "string", repeated=True)


def ms(name, msg):
    return F(name, "msg", msg, repeated=True)


# Special messages that JSON renders as scalars.
TIME, QUANTITY, INTORSTR, FIELDSV1, RAWEXT = "Time", "Quantity", "IntOrString", "FieldsV1", "RawExtension"

MESSAGES: dict[str, dict[int, F]] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: s("name"), 2: s("generateName"), 3: s("namespace"), 4: s("selfLink"), 5: s("uid"),
        6: s("resourceVersion"), 7: i64("generation"), 8: m("creationTimestamp", TIME),
        9: m("deletionTimestamp", TIME), 10: i64("deletionGracePeriodSeconds", ptr=True),
        11: mp("labels"), 12: mp("annotations"), 13: ms("ownerReferences", "OwnerReference"),
        14: strs("finalizers"), 17: ms("managedFields", "ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: s("kind"), 3: s("name"), 4: s("uid"), 5: s("apiVersion"), 6: b("controller", ptr=True),
        7: b("blockOwnerDeletion", ptr=True),
    },
    "ManagedFieldsEntry": {
        1: s("manager"), 2: s("operation"), 3: s("apiVersion"), 4: m("time", TIME), 6: s("fieldsType"),
        7: m("fieldsV1", FIELDSV1), 8: s("subresource"),
    },
    "LabelSelector": {1: mp("matchLabels"), 2: ms("matchExpressions", "LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: s("key"), 2: s("operator"), 3: strs("values")},
    # k8s.io/api/core/v1
    "Namespace": {1: m("metadata", "ObjectMeta"), 2: m("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: strs("finalizers")},
    "ConfigMap": {1: m("metadata", "ObjectMeta"), 2: mp("data"), 3: mp("binaryData", "bytes"),
                  4: b("immutable", ptr=True)},
    "Secret": {1: m("metadata", "ObjectMeta"), 2: mp("data", "bytes"), 3: s("type"), 4: mp("stringData"),
               5: b("immutable", ptr=True)},
    "ServiceAccount": {1: m("metadata", "ObjectMeta"), 2: ms("secrets", "ObjectReference"),
                       3: ms("imagePullSecrets", "LocalObjectReference"),
                       4: b("automountServiceAccountToken", ptr=True)},
    "ObjectReference": {1: s("kind"), 2: s("namespace"), 3: s("name"), 4: s("uid"), 5: s("apiVersion"),
                        6: s("resourceVersion"), 7: s("fieldPath")},
    "LocalObjectReference": {1: s("name")},
    "ResourceQuota": {1: m("metadata", "ObjectMeta"), 2: m("spec", "ResourceQuotaSpec")},
    "ResourceQuotaSpec": {1: mp("hard", QUANTITY), 2: strs("scopes"), 3: m("scopeSelector", "ScopeSelector", ptr=True)},
    "ScopeSelector": {1: ms("matchExpressions", "ScopedResourceSelectorRequirement")},
    "ScopedResourceSelectorRequirement": {1: s("scopeName"), 2: s("operator"), 3: strs("values")},
    "LimitRange": {1: m("metadata", "ObjectMeta"), 2: m("spec", "LimitRangeSpec")},
    "LimitRangeSpec": {1: ms("limits", "LimitRangeItem")},
    "LimitRangeItem": {1: s("type"), 2: mp("max", QUANTITY), 3: mp("min", QUANTITY), 4: mp("default", QUANTITY),
                       5: mp("defaultRequest", QUANTITY), 6: mp("maxLimitRequestRatio", QUANTITY)},
    "Pod": {1: m("metadata", "ObjectMeta"), 2: m("spec", "PodSpec")},
    "PodTemplateSpec": {1: m("metadata", "ObjectMeta"), 2: m("spec", "PodSpec")},
    "PodSpec": {
        1: ms("volumes", "Volume"), 2: ms("containers", "Container"), 3: s("restartPolicy"),
        4: i64("terminationGracePeriodSeconds", ptr=True), 5: i64("activeDeadlineSeconds", ptr=True),
        6: s("dnsPolicy"), 7: mp("nodeSelector"), 8: s("serviceAccountName"), 9: s("serviceAccount"),
        10: s("nodeName"), 11: b("hostNetwork"), 12: b("hostPID"), 13: b("hostIPC"),
        14: m("securityContext", "PodSecurityContext", ptr=True),
        15: ms("imagePullSecrets", "LocalObjectReference"), 16: s("hostname"), 17: s("subdomain"),
        19: s("schedulerName"), 20: ms("initContainers", "Container"),
        21: b("automountServiceAccountToken", ptr=True), 22: ms("tolerations", "Toleration"),
        23: ms("hostAliases", "HostAlias"), 24: s("priorityClassName"), 25: i32("priority", ptr=True),
        27: b("shareProcessNamespace", ptr=True), 29: s("runtimeClassName", ptr=True),
        30: b("enableServiceLinks", ptr=True), 31: s("preemptionPolicy", ptr=True),
        35: b("setHostnameAsFQDN", ptr=True), 37: b("hostUsers", ptr=True),
    },
    "Container": {
        1: s("name"), 2: s("image"), 3: strs("command"), 4: strs("args"), 5: s("workingDir"),
        6: ms("ports", "ContainerPort"), 7: ms("env", "EnvVar"), 8: m("resources", "ResourceRequirements"),
        9: ms("volumeMounts", "VolumeMount"), 10: m("livenessProbe", "Probe", ptr=True),
        11: m("readinessProbe", "Probe", ptr=True), 12: m("lifecycle", "Lifecycle", ptr=True),
        13: s("terminationMessagePath"), 14: s("imagePullPolicy"),
        15: m("securityContext", "SecurityContext", ptr=True), 16: b("stdin"), 17: b("stdinOnce"),
        18: b("tty"), 19: ms("envFrom", "EnvFromSource"), 20: s("terminationMessagePolicy"),
        22: m("startupProbe", "Probe", ptr=True), 24: s("restartPolicy", ptr=True),
    },
    "ContainerPort": {1: s("name"), 2: i32("hostPort"), 3: i32("containerPort"), 4: s("protocol"), 5: s("hostIP")},
    "EnvVar": {1: s("name"), 2: s("value"), 3: m("valueFrom", "EnvVarSource", ptr=True)},
    "EnvVarSource": {1: m("fieldRef", "ObjectFieldSelector", ptr=True),
                     2: m("resourceFieldRef", "ResourceFieldSelector", ptr=True),
                     3: m("configMapKeyRef", "KeySelector", ptr=True), 4: m("secretKeyRef", "KeySelector", ptr=True)},
    "ObjectFieldSelector": {1: s("apiVersion"), 2: s("fieldPath")},
    "ResourceFieldSelector": {1: s("containerName"), 2: s("resource"), 3: m("divisor", QUANTITY)},
    # ConfigMapKeySelector and SecretKeySelector share one layout
    "KeySelector": {1: m("", "LocalObjectReference", inline=True), 2: s("key"), 3: b("optional", ptr=True)},
    "EnvFromSource": {1: s("prefix"), 2: m("configMapRef", "EnvSource", ptr=True),
                      3: m("secretRef", "EnvSource", ptr=True)},
    # ConfigMapEnvSource and SecretEnvSource share one layout
    "EnvSource": {1: m("", "LocalObjectReference", inline=True), 2: b("optional", ptr=True)},
    "ResourceRequirements": {1: mp("limits", QUANTITY), 2: mp("requests", QUANTITY)},
    "VolumeMount": {1: s("name"), 2: b("readOnly"), 3: s("mountPath"), 4: s("subPath"),
                    5: s("mountPropagation", ptr=True), 6: s("subPathExpr")},
    "Volume": {1: s("name"), 2: m("", "VolumeSource", inline=True)},
    "VolumeSource": {
        1: m("hostPath", "HostPathVolumeSource", ptr=True), 2: m("emptyDir", "EmptyDirVolumeSource", ptr=True),
        6: m("secret", "SecretVolumeSource", ptr=True),
        10: m("persistentVolumeClaim", "PersistentVolumeClaimVolumeSource", ptr=True),
        19: m("configMap", "ConfigMapVolumeSource", ptr=True),
    },
    "HostPathVolumeSource": {1: s("path"), 2: s("type", ptr=True)},
    "EmptyDirVolumeSource": {1: s("medium"), 2: m("sizeLimit", QUANTITY, ptr=True)},
    "SecretVolumeSource": {1: s("secretName"), 2: ms("items", "KeyToPath"), 3: i32("defaultMode", ptr=True),
                           4: b("optional", ptr=True)},
    "ConfigMapVolumeSource": {1: m("", "LocalObjectReference", inline=True), 2: ms("items", "KeyToPath"),
                              3: i32("defaultMode", ptr=True), 4: b("optional", ptr=True)},
    "PersistentVolumeClaimVolumeSource": {1: s("claimName"), 2: b("readOnly")},
    "KeyToPath": {1: s("key"), 2: s("path"), 3: i32("mode", ptr=True)},
    "Probe": {1: m("", "ProbeHandler", inline=True), 2: i32("initialDelaySeconds"), 3: i32("timeoutSeconds"),
              4: i32("periodSeconds"), 5: i32("successThreshold"), 6: i32("failureThreshold"),
              7: i64("terminationGracePeriodSeconds", ptr=True)},
    "ProbeHandler": {1: m("exec", "ExecAction", ptr=True), 2: m("httpGet", "HTTPGetAction", ptr=True),
                     3: m("tcpSocket", "TCPSocketAction", ptr=True), 4: m("grpc", "GRPCAction", ptr=True)},
    "Lifecycle": {1: m("postStart", "LifecycleHandler", ptr=True), 2: m("preStop", "LifecycleHandler", ptr=True)},
    "LifecycleHandler": {1: m("exec", "ExecAction", ptr=True), 2: m("httpGet", "HTTPGetAction", ptr=True),
                         3: m("tcpSocket", "TCPSocketAction", ptr=True), 4: m("sleep", "SleepAction", ptr=True)},
    "ExecAction": {1: strs("command")},
    "HTTPGetAction": {1: s("path"), 2: m("port", INTORSTR), 3: s("host"), 4: s("scheme"),
                      5: ms("httpHeaders", "HTTPHeader")},
    "HTTPHeader": {1: s("name"), 2: s("value")},
    "TCPSocketAction": {1: m("port", INTORSTR), 2: s("host")},
    "GRPCAction": {1: i32("port"), 2: s("service", ptr=True)},
    "SleepAction": {1: i64("seconds")},
    "SecurityContext": {
        1: m("capabilities", "Capabilities", ptr=True), 2: b("privileged", ptr=True), 4: i64("runAsUser", ptr=True),
        5: b("runAsNonRoot", ptr=True), 6: b("readOnlyRootFilesystem", ptr=True),
        7: b("allowPrivilegeEscalation", ptr=True), 8: i64("runAsGroup", ptr=True),
    },
    "Capabilities": {1: strs("add"), 2: strs("drop")},
    "PodSecurityContext": {2: i64("runAsUser", ptr=True), 3: b("runAsNonRoot", ptr=True),
                           4: F("supplementalGroups", "int64", repeated=True), 5: i64("fsGroup", ptr=True),
                           6: i64("runAsGroup", ptr=True)},
    "Toleration": {1: s("key"), 2: s("operator"), 3: s("value"), 4: s("effect"), 5: i64("tolerationSeconds", ptr=True)},
    "HostAlias": {1: s("ip"), 2: strs("hostnames")},
    "Service": {1: m("metadata", "ObjectMeta"), 2: m("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: ms("ports", "ServicePort"), 2: mp("selector"), 3: s("clusterIP"), 4: s("type"), 5: strs("externalIPs"),
        7: s("sessionAffinity"), 8: s("loadBalancerIP"), 9: strs("loadBalancerSourceRanges"), 10: s("externalName"),
        11: s("externalTrafficPolicy"), 12: i32("healthCheckNodePort"), 13: b("publishNotReadyAddresses"),
        17: s("ipFamilyPolicy", ptr=True), 18: strs("clusterIPs"), 19: strs("ipFamilies"),
        20: b("allocateLoadBalancerNodePorts", ptr=True), 21: s("loadBalancerClass", ptr=True),
        22: s("internalTrafficPolicy", ptr=True), 23: s("trafficDistribution", ptr=True),
    },
    "ServicePort": {1: s("name"), 2: s("protocol"), 3: i32("port"), 4: m("targetPort", INTORSTR), 5: i32("nodePort"),
                    6: s("appProtocol", ptr=True)},
    # k8s.io/api/apps/v1
    "Deployment": {1: m("metadata", "ObjectMeta"), 2: m("spec", "DeploymentSpec")},
    "DeploymentSpec": {
        1: i32("replicas", ptr=True), 2: m("selector", "LabelSelector", ptr=True), 3: m("template", "PodTemplateSpec"),
        4: m("strategy", "DeploymentStrategy"), 5: i32("minReadySeconds"), 6: i32("revisionHistoryLimit", ptr=True),
        7: b("paused"), 9: i32("progressDeadlineSeconds", ptr=True),
    },
    "DeploymentStrategy": {1: s("type"), 2: m("rollingUpdate", "RollingUpdateDeployment", ptr=True)},
    "RollingUpdateDeployment": {1: m("maxUnavailable", INTORSTR, ptr=True), 2: m("maxSurge", INTORSTR, ptr=True)},
    "ReplicaSet": {1: m("metadata", "ObjectMeta"), 2: m("spec", "ReplicaSetSpec")},
    "ReplicaSetSpec": {1: i32("replicas", ptr=True), 2: m("selector", "LabelSelector", ptr=True),
                       3: m("template", "PodTemplateSpec"), 4: i32("minReadySeconds")},
}

# apiVersion/kind of the envelope -> the message of the object
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace", ("v1", "ConfigMap"): "ConfigMap", ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount", ("v1", "ResourceQuota"): "ResourceQuota",
    ("v1", "LimitRange"): "LimitRange", ("v1", "Pod"): "Pod", ("v1", "Service"): "Service",
    ("apps/v1", "Deployment"): "Deployment", ("apps/v1", "ReplicaSet"): "ReplicaSet",
}


# ---- decoding ---------------------------------------------------------------------------------

def _time(buf: bytes) -> str | None:
    seconds = nanos = 0
    for num, _, v in fields(buf):
        if num == 1:
            seconds = _signed(v)
        elif num == 2:
            nanos = _signed(v, 32)
    if not seconds and not nanos:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(buf: bytes) -> str:
    for num, _, v in fields(buf):
        if num == 1:
            return _text(v)
    return ""


def _int_or_string(buf: bytes) -> int | str:
    typ, ival, sval = 0, 0, ""
    for num, _, v in fields(buf):
        if num == 1:
            typ = _signed(v)
        elif num == 2:
            ival = _signed(v, 32)
        elif num == 3:
            sval = _text(v)
    return sval if typ == 1 else ival


def _raw_json(buf: bytes) -> Any:
    for num, _, v in fields(buf):
        if num == 1 and v:
            try:
                return json.loads(v)
            except ValueError as e:
                raise ProtobufError(f"embedded JSON is malformed: {e}") from None
    return {}


SPECIAL = {TIME: _time, QUANTITY: _quantity, INTORSTR: _int_or_string, FIELDSV1: _raw_json, RAWEXT: _raw_json}


def _text(v: Any) -> str:
    if not isinstance(v, (bytes, bytearray)):
        raise ProtobufError("expected a length-delimited field")
    try:
        return bytes(v).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError("a string field is not valid UTF-8") from None


def _scalar(f: F, wire: int, v: Any) -> Any:
    if f.kind == "string":
        return _text(v)
    if f.kind == "bytes":
        if wire != LEN:
            raise ProtobufError(f"{f.name}: expected bytes")
        return base64.b64encode(bytes(v)).decode()
    if wire != VARINT:
        raise ProtobufError(f"{f.name}: expected a varint")
    if f.kind == "int32":
        return _signed(v, 32)
    if f.kind == "int64":
        return _signed(v)
    if f.kind == "bool":
        return bool(v)
    raise ProtobufError(f"{f.name}: unknown field kind {f.kind}")


def _packed(f: F, v: bytes) -> list:
    out, pos = [], 0
    while pos < len(v):
        n, pos = _varint(v, pos)
        out.append(_scalar(f, VARINT, n))
    return out


def _map_entry(value_kind: str, buf: bytes) -> tuple[str, Any]:
    key, value = "", None
    for num, _wire, v in fields(buf):
        if num == 1:
            key = _text(v)
        elif num == 2:
            if value_kind == "string":
                value = _text(v)
            elif value_kind == "bytes":
                value = base64.b64encode(bytes(v)).decode()
            elif value_kind in SPECIAL:
                value = SPECIAL[value_kind](v)
            else:
                value = decode_message(value_kind, v)
    if value is None:
        value = "" if value_kind in ("string", "bytes", QUANTITY) else {}
    return key, value


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value == [] or value == {}


def decode_message(name: str, buf: bytes) -> dict:
    table = MESSAGES.get(name)
    if table is None:
        raise ProtobufError(f"no table for message {name}")
    out: dict = {}
    for num, wire, v in fields(buf):
        f = table.get(num)
        if f is None:
            continue  # a field this decoder does not know: skipped
        if f.kind == "map":
            if wire != LEN:
                raise ProtobufError(f"{f.name}: expected a map entry")
            k, val = _map_entry(f.msg or "string", v)
            out.setdefault(f.name, {})[k] = val
            continue
        if f.kind == "msg":
            if wire != LEN:
                raise ProtobufError(f"{f.name}: expected a message")
            val = SPECIAL[f.msg](v) if f.msg in SPECIAL else decode_message(f.msg, v)
            if f.inline:
                out.update(val)
                continue
        elif f.repeated and wire == LEN and f.kind not in ("string", "bytes"):
            out.setdefault(f.name, []).extend(_packed(f, v))
            continue
        else:
            val = _scalar(f, wire, v)
        if f.repeated:
            out.setdefault(f.name, []).append(val)
        else:
            out[f.name] = val
    for f in table.values():
        if f.name in out and not f.ptr and not f.repeated and f.kind != "map" and _empty(out[f.name]):
            del out[f.name]
        elif f.name in out and f.ptr and out[f.name] is None:
            del out[f.name]
    return out


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """The envelope -> (apiVersion, kind, raw object bytes)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix")
    api_version = kind = ""
    raw = b""
    encoding = ""
    for num, _, v in fields(body[len(MAGIC):]):
        if num == 1:
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    api_version = _text(v2)
                elif n2 == 2:
                    kind = _text(v2)
        elif num == 2:
            raw = bytes(v)
        elif num == 3:
            encoding = _text(v)
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    return api_version, kind, raw


def decode(body: bytes) -> dict:
    """A `application/vnd.kubernetes.protobuf` request body -> the object as JSON would have it."""
    api_version, kind, raw = unwrap(body)
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnknownKind(f"no protobuf decoding for {api_version or '?'}/{kind or '?'}")
    obj = decode_message(message, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}
