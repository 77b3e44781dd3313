"""The Kubernetes REST API over aiohttp: routing, CRUD, patch, apply, subresources."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
from typing import Any

import yaml
from aiohttp import web

from . import apply as ssa
from . import discovery, protobuf, tables, validation, watch
from .patching import json_patch, merge_patch, strategic_merge
from .resources import RESOURCES, Resource, lookup
from .selectors import SelectorError, selector_object_to_string
from .store import BadRequest, Conflict, Invalid, NotFound, Store, StoreError

try:  # the admission plugins (quota, limit ranges) live next to the controllers
    from . import admission as _admission
except ImportError:  # pragma: no cover - optional
    _admission = None

log = logging.getLogger("sandbox.api")


class MethodNotAllowed(StoreError):
    code, reason = 405, "MethodNotAllowed"


class Unsupported(StoreError):
    code, reason = 415, "UnsupportedMediaType"


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def _error(e: StoreError, info: Resource | None = None, name: str | None = None) -> web.Response:
    details: dict = {}
    if name:
        details["name"] = name
    if info is not None:
        details["group"] = info.group
        details["kind"] = info.kind if isinstance(e, Invalid) else info.name
    if e.causes:
        details["causes"] = e.causes
    return json_response(status_body(e.code, e.reason, e.message, details or None), status=e.code)


def invalid(info: Resource, name: str, causes: list[dict]) -> Invalid:
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    detail = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    kind = f"{info.kind}.{info.group}" if info.group else info.kind
    return Invalid(f'{kind} "{name}" is invalid: {detail}', causes)


class Api:
    def __init__(self, store: Store, token: str):
        self.store = store
        self.token = token
        self.faults = None  # sandbox.faults.ApiFaults once the listener runs: /sandbox/* and slow answers

    # ---- plumbing -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return json_response(status_body(401, "Unauthorized", "Unauthorized"), status=401)
        try:
            response = await handler(request)
            if self.faults is not None:
                await self.faults.after_call(request)
            return response
        except StoreError as e:
            return _error(e, request.get("info"), request.get("name"))
        except SelectorError as e:
            return json_response(status_body(400, "BadRequest", str(e)), status=400)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except web.HTTPException:
            raise
        except Exception as e:  # pragma: no cover - a bug; answer like an apiserver would
            log.exception("internal error on %s %s", request.method, request.path)
            return json_response(status_body(500, "InternalError", f"Internal error occurred: {e}"), status=500)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["sandbox"] and self.faults is not None and path in self.faults.routes():
            return await self.faults.routes()[path](request)
        if path == "/version":
            return json_response(discovery.version())
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if path == "/api":
            return json_response(discovery.api_versions(request.host))
        if path == "/apis":
            return json_response(discovery.api_group_list())
        if path == "/openapi/v2":
            if "protobuf" in request.headers.get("Accept", ""):
                return web.Response(body=discovery.openapi_v2_protobuf(),
                                    content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            return json_response(discovery.openapi_v2_json())
        if path == "/openapi/v3":
            return json_response(discovery.openapi_v3_index())
        if path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/"):]
            gv = gv[4:] if gv.startswith("api/") else gv[5:] if gv.startswith("apis/") else ""
            doc = discovery.openapi_v3_doc(gv)
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return json_response(doc)
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                g = discovery.api_group(parts[1])
                if g is None:
                    raise NotFound("the server could not find the requested resource")
                return json_response(g)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise NotFound("the server could not find the requested resource")
        if not rest:
            doc = discovery.api_resource_list(f"{group}/{version}" if group else version)
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return json_response(doc)
        return await self.resource_request(request, group, version, rest)

    async def resource_request(self, request: web.Request, group: str, version: str,
                               rest: list[str]) -> web.StreamResponse:
        watching = False
        if rest[0] == "watch":
            watching, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest:
            raise NotFound("the server could not find the requested resource")
        info = lookup(group, version, rest[0])
        if info is None or len(rest) > 3:
            raise NotFound("the server could not find the requested resource")
        if namespace is not None and not info.namespaced:
            raise NotFound("the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in info.subresources and not (info.name == "namespaces" and sub == "finalize"):
            raise NotFound("the server could not find the requested resource")
        if info.namespaced and name is not None and namespace is None:
            raise NotFound("the server could not find the requested resource")
        request["info"] = info
        request["name"] = name
        q = request.query
        method = request.method
        if watching or (method == "GET" and name is None and q.get("watch") in ("true", "1")):
            return await self.watch(request, info, namespace, name)
        if method == "GET":
            if name is None:
                return self.list(request, info, namespace)
            if sub == "log":
                return await self.logs(request, namespace, name)
            if sub == "scale":
                return json_response(self.scale_of(info, self._get(info, namespace, name)))
            return self.respond(request, info, self._get(info, namespace, name))
        if method == "POST" and name is None:
            return await self.create(request, info, namespace)
        if method == "PUT" and name is not None:
            return await self.replace(request, info, namespace, name, sub)
        if method == "PATCH" and name is not None:
            return await self.patch(request, info, namespace, name, sub)
        if method == "DELETE":
            if name is None:
                return await self.delete_collection(request, info, namespace)
            return await self.delete(request, info, namespace, name)
        raise MethodNotAllowed("the server does not allow this method on the requested resource")

    def _get(self, info: Resource, namespace: str | None, name: str) -> dict:
        obj = self.store.get(info.name, namespace, name)
        if obj is None:
            g = f".{info.group}" if info.group else ""
            raise NotFound(f'{info.name}{g} "{name}" not found')
        return obj

    @staticmethod
    def wants_table(request: web.Request) -> bool:
        accept = request.headers.get("Accept", "")
        for part in accept.split(","):
            if "as=Table" in part and "g=meta.k8s.io" in part:
                return True
            if part.strip().startswith("application/json") and "as=" not in part:
                return False
        return False

    def respond(self, request: web.Request, info: Resource, obj: dict, status: int = 200,
                warnings: list[str] | None = None) -> web.Response:
        headers = {}
        warnings = [*(warnings or []), *request.get("admission_warnings", ())]
        if warnings:
            headers["Warning"] = ", ".join(f'299 - {json.dumps(w)}' for w in warnings)
        if self.wants_table(request):
            body = tables.table(info.name, [obj], include=request.query.get("includeObject", "Metadata"),
                                resource_version=obj["metadata"].get("resourceVersion", ""))
            return json_response(body, status, headers)
        return json_response(obj, status, headers)

    async def body(self, request: web.Request) -> Any:
        ctype = request.content_type
        raw = await request.read()
        if ctype == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(raw)
            except protobuf.UnknownKind as e:
                raise Unsupported(f"the body of the request was in an unknown format - accepted media types "
                                  f"include: application/json, application/yaml ({e})") from None
            except protobuf.ProtobufError as e:
                raise BadRequest(f"the object provided is unrecognized or malformed: {e}") from None
        if "protobuf" in ctype:
            raise Unsupported("the body of the request was in an unknown format - accepted media types "
                              "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        if not raw:
            raise BadRequest("the body of the request was empty")
        try:
            if "yaml" in ctype:
                try:
                    return json.loads(raw)
                except ValueError:
                    return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise BadRequest(f"the object provided is unrecognized or malformed: {e}") from None

    # ---- list / watch -------------------------------------------------------------------

    def list(self, request: web.Request, info: Resource, namespace: str | None) -> web.Response:
        q = request.query
        items = self.store.list(info.name, namespace, q.get("labelSelector") or None, q.get("fieldSelector") or None)
        rv = str(self.store.resource_version)
        cont = q.get("continue")
        if cont:
            try:
                token = json.loads(base64.urlsafe_b64decode(cont.encode()))
                start = tuple(token["start"])
                rv = token.get("rv", rv)
            except (ValueError, KeyError, TypeError):
                raise BadRequest("continue key is not valid") from None
            items = [o for o in items if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > start]
        next_token, remaining = "", None
        limit = q.get("limit")
        if limit and limit.isdigit() and int(limit) > 0 and len(items) > int(limit):
            n = int(limit)
            remaining = len(items) - n
            items = items[:n]
            last = items[-1]["metadata"]
            next_token = base64.urlsafe_b64encode(json.dumps(
                {"rv": rv, "start": [last.get("namespace") or "", last["name"]]}).encode()).decode()
        if self.wants_table(request):
            return json_response(tables.table(info.name, items, include=q.get("includeObject", "Metadata"),
                                              resource_version=rv, continue_token=next_token,
                                              remaining=remaining))
        meta: dict = {"resourceVersion": rv}
        if next_token:
            meta["continue"] = next_token
            meta["remainingItemCount"] = remaining
        return json_response({"kind": f"{info.kind}List", "apiVersion": info.api_version,
                              "metadata": meta, "items": items})

    async def watch(self, request: web.Request, info: Resource, namespace: str | None,
                    name: str | None) -> web.StreamResponse:
        q = request.query
        fs = q.get("fieldSelector") or ""
        if name:
            fs = ",".join(x for x in (fs, f"metadata.name={name}") if x)
        timeout = q.get("timeoutSeconds")
        w = watch.WatchRequest(
            self.store, info.name, namespace, label_selector=q.get("labelSelector") or None,
            field_selector=fs or None, resource_version=q.get("resourceVersion"),
            timeout=float(timeout) if timeout else None,
            bookmarks=q.get("allowWatchBookmarks") in ("true", "1"), as_table=self.wants_table(request),
            include=q.get("includeObject", "Metadata"), send_initial=q.get("sendInitialEvents") == "true",
        )
        return await watch.serve(request, w)

    # ---- validation ------------------------------------------------------------------------

    def validate(self, request: web.Request, info: Resource, obj: dict, name: str,
                 check_fields: dict | None = None) -> list[str]:
        """Raise Invalid with every cause; returns warnings. `check_fields` is the part the
        client sent (for patches), checked for unknown fields."""
        mode = request.query.get("fieldValidation") or "Warn"
        if mode not in ("Strict", "Warn", "Ignore"):
            raise BadRequest(f"fieldValidation must be one of Strict, Warn, Ignore (got {mode!r})")
        warnings: list[str] = []
        causes, unknown = validation.schema_errors(obj)
        if check_fields is not None and check_fields is not obj:
            _, unknown = validation.schema_errors(check_fields)
        if unknown:
            names = validation.unknown_field_names(unknown)
            if mode == "Strict":
                causes = [{"field": n, "reason": "FieldValueNotSupported", "message": f'unknown field "{n}"'}
                          for n in names] + causes
            else:
                validation.drop_unknown(obj, unknown)
                if check_fields is not None and check_fields is not obj:
                    validation.drop_unknown(check_fields, unknown)
                if mode == "Warn":
                    warnings += [f'unknown field "{n}"' for n in names]
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        creating = not meta.get("name") or self.store.get(info.name, meta.get("namespace"), meta["name"]) is None
        causes += validation.semantic_causes(info.name, obj, creating=creating)
        if causes:
            raise invalid(info, name, causes)
        return warnings

    def _check_identity(self, info: Resource, obj: Any, namespace: str | None, name: str | None) -> None:
        if not isinstance(obj, dict):
            raise BadRequest("the object provided is unrecognized or malformed")
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if kind and kind != info.kind or av and av != info.api_version:
            raise BadRequest(f"the API version in the data ({av}) does not match the expected API version "
                             f"({info.api_version})" if av != info.api_version else
                             f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        if info.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise BadRequest("the namespace of the provided object does not match the namespace sent on "
                                 "the request")
            if namespace:
                meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name is not None:
            if meta.get("name") and meta["name"] != name:
                raise BadRequest(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
            meta["name"] = name

    @staticmethod
    def manager(request: web.Request) -> str:
        m = request.query.get("fieldManager")
        if m:
            return m
        ua = request.headers.get("User-Agent", "unknown")
        return ua.split("/")[0] or "unknown"

    @staticmethod
    def dry_run(request: web.Request) -> bool:
        values = request.query.getall("dryRun", [])
        for v in values:
            if v != "All":
                raise BadRequest(f"Invalid dry run value: {v!r}, supported values: All")
        return bool(values)

    async def admit(self, resource: str, obj: dict, operation: str) -> list[str]:
        """The admission plugins; returns their warnings (Pod Security's warn level)."""
        if _admission is not None and hasattr(_admission, "admit"):
            return await _admission.admit(self.store, resource, obj, operation) or []
        return []

    # ---- writes ------------------------------------------------------------------------------

    async def create(self, request: web.Request, info: Resource, namespace: str | None) -> web.Response:
        obj = await self.body(request)
        self._check_identity(info, obj, namespace, None)
        request["name"] = obj["metadata"].get("name")
        warnings = self.validate(request, info, obj, obj["metadata"].get("name") or obj["metadata"].get("generateName", ""))
        result = await self._create(request, info, obj)
        return self.respond(request, info, result, 201, warnings)

    async def _create(self, request: web.Request, info: Resource, obj: dict) -> dict:
        prepared = self.store.prepare_create(info.name, obj)
        if "managedFields" not in prepared["metadata"]:
            ssa.record_update(prepared, self.manager(request))
        request.setdefault("admission_warnings", []).extend(await self.admit(info.name, prepared, "CREATE"))
        if self.dry_run(request):
            return prepared
        return await self.store.create(info.name, prepared)

    async def _update(self, request: web.Request, info: Resource, obj: dict, sub: str | None,
                      record: bool = True) -> dict:
        old, new = self.store.prepare_update(info.name, obj, subresource=sub)
        if record and sub is None:
            ssa.record_update(new, self.manager(request), old)
        warnings = await self.admit(info.name, new, "UPDATE")
        if sub is None:  # as on a real API server, a subresource's write gets no Pod Security warning
            request.setdefault("admission_warnings", []).extend(warnings)
        if self.dry_run(request):
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        new["metadata"]["resourceVersion"] = obj.get("metadata", {}).get("resourceVersion") or \
            old["metadata"]["resourceVersion"]
        return await self.store.update(info.name, new, subresource=sub)

    async def replace(self, request: web.Request, info: Resource, namespace: str | None, name: str,
                      sub: str | None) -> web.Response:
        obj = await self.body(request)
        if sub == "scale":
            return await self.write_scale(request, info, namespace, name, obj)
        self._check_identity(info, obj, namespace, name)
        if sub not in (None, "status", "finalize"):
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        current = self._get(info, namespace, name)
        check = obj
        if sub == "status":
            check = copy.deepcopy(current)
            check["status"] = obj.get("status")
        warnings = self.validate(request, info, check, name)
        if sub == "status":
            obj["status"] = check.get("status")
        result = await self._update(request, info, obj, "status" if sub == "status" else None)
        return self.respond(request, info, result, 200, warnings)

    async def patch(self, request: web.Request, info: Resource, namespace: str | None, name: str,
                    sub: str | None) -> web.Response:
        ctype = request.content_type
        patch = await self.body(request)
        if sub == "scale":
            current = self.scale_of(info, self._get(info, namespace, name))
            return await self.write_scale(request, info, namespace, name, self.apply_patch(ctype, current, patch))
        if sub == "log":
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        if ctype == "application/apply-patch+yaml":
            return await self.server_side_apply(request, info, namespace, name, patch, sub)
        current = self._get(info, namespace, name)
        patched = self.apply_patch(ctype, current, patch)
        if not isinstance(patched, dict):
            raise BadRequest("the patch produced an object that is not a map")
        self._check_identity(info, patched, namespace, name)
        warnings = self.validate(request, info, patched, name, check_fields=patched)
        sent_rv = patch.get("metadata", {}).get("resourceVersion") if isinstance(patch, dict) else None
        if not sent_rv:
            patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        result = await self._update(request, info, patched, "status" if sub == "status" else None)
        return self.respond(request, info, result, 200, warnings)

    @staticmethod
    def apply_patch(ctype: str, current: dict, patch: Any) -> Any:
        if ctype == "application/json-patch+json":
            return json_patch(current, patch)
        if not isinstance(patch, dict):
            raise BadRequest("the patch must be a JSON object")
        if ctype == "application/merge-patch+json":
            return merge_patch(current, patch)
        if ctype == "application/strategic-merge-patch+json":
            return strategic_merge(current, patch)
        if ctype == "application/apply-patch+yaml":
            return strategic_merge(current, patch)
        raise Unsupported("the body of the request was in an unknown format - accepted media types include: "
                          "application/json-patch+json, application/merge-patch+json, "
                          "application/apply-patch+yaml, application/strategic-merge-patch+json")

    async def server_side_apply(self, request: web.Request, info: Resource, namespace: str | None,
                                name: str, applied: Any, sub: str | None) -> web.Response:
        manager = request.query.get("fieldManager")
        if not manager:
            raise BadRequest("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(applied, dict):
            raise BadRequest("the applied configuration must be an object")
        self._check_identity(info, applied, namespace, name)
        force = request.query.get("force") in ("true", "1")
        # unknown fields of the applied configuration
        warnings: list[str] = []
        mode = request.query.get("fieldValidation") or "Warn"
        _, unknown = validation.schema_errors(applied)
        if unknown:
            names = validation.unknown_field_names(unknown)
            if mode == "Strict":
                raise invalid(info, name, [{"field": n, "reason": "FieldValueNotSupported",
                                            "message": f'unknown field "{n}"'} for n in names])
            validation.drop_unknown(applied, unknown)
            if mode == "Warn":
                warnings = [f'unknown field "{n}"' for n in names]
        live = self.store.get(info.name, namespace, name)
        if sub == "status":
            if live is None:
                raise NotFound(f'{info.name} "{name}" not found')
            merged = strategic_merge(live, {"status": applied.get("status")})
            self.validate(request, info, merged, name)
            result = await self._update(request, info, merged, "status", record=False)
            return self.respond(request, info, result, 200, warnings)
        merged = ssa.apply(live, applied, manager, force)
        self.validate(request, info, merged, name)
        if live is None:
            result = await self._create(request, info, merged)
            return self.respond(request, info, result, 201, warnings)
        merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        result = await self._update(request, info, merged, None, record=False)
        return self.respond(request, info, result, 200, warnings)

    # ---- scale --------------------------------------------------------------------------------

    def scale_of(self, info: Resource, obj: dict) -> dict:
        if "scale" not in info.subresources:
            raise NotFound("the server could not find the requested resource")
        meta = obj["metadata"]
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta.get("creationTimestamp")},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": selector_object_to_string(obj.get("spec", {}).get("selector"))},
        }

    async def write_scale(self, request: web.Request, info: Resource, namespace: str | None, name: str,
                          scale: Any) -> web.Response:
        if "scale" not in info.subresources:
            raise NotFound("the server could not find the requested resource")
        replicas = (scale or {}).get("spec", {}).get("replicas") if isinstance(scale, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise Invalid(f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                          f'{json.dumps(replicas)}: must be greater than or equal to 0',
                          [{"field": "spec.replicas", "reason": "FieldValueInvalid",
                            "message": "Invalid value: must be greater than or equal to 0"}])
        obj = self._get(info, namespace, name)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {info.name}.{info.group} "{name}": the object '
                           f"has been modified; please apply your changes to the latest version and try again")
        obj["spec"]["replicas"] = replicas
        result = await self._update(request, info, obj, None)
        return json_response(self.scale_of(info, result))

    # ---- delete --------------------------------------------------------------------------------

    async def _delete_options(self, request: web.Request) -> dict:
        opts: dict = {}
        raw = await request.read()
        if raw:
            try:
                opts = json.loads(raw) or {}
            except ValueError:
                raise BadRequest("DeleteOptions is not valid JSON") from None
        q = request.query
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise BadRequest("gracePeriodSeconds must be an integer") from None
        if q.get("orphanDependents") == "true":
            opts["propagationPolicy"] = "Orphan"
        if opts.get("orphanDependents") is True and "propagationPolicy" not in opts:
            opts["propagationPolicy"] = "Orphan"
        policy = opts.get("propagationPolicy")
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise BadRequest(f"Unsupported value: {policy!r}: supported values: Background, Foreground, Orphan")
        if opts.get("dryRun"):
            opts["dryRun"] = True
        if self.dry_run(request):
            opts["dryRun"] = True
        return opts

    async def delete(self, request: web.Request, info: Resource, namespace: str | None,
                     name: str) -> web.Response:
        opts = await self._delete_options(request)
        result = await self.store.delete(
            info.name, namespace, name, propagation=opts.get("propagationPolicy"),
            grace_period=opts.get("gracePeriodSeconds"), dry_run=bool(opts.get("dryRun")),
            preconditions=opts.get("preconditions"))
        return json_response(result, 200)

    async def delete_collection(self, request: web.Request, info: Resource,
                                namespace: str | None) -> web.Response:
        if "deletecollection" not in info.verbs:
            raise MethodNotAllowed("the server does not allow this method on the requested resource")
        opts = await self._delete_options(request)
        q = request.query
        items = self.store.list(info.name, namespace, q.get("labelSelector") or None, q.get("fieldSelector") or None)
        deleted = []
        for obj in items:
            try:
                deleted.append(await self.store.delete(
                    info.name, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                    propagation=opts.get("propagationPolicy"), grace_period=opts.get("gracePeriodSeconds"),
                    dry_run=bool(opts.get("dryRun"))))
            except NotFound:
                continue
        return json_response({"kind": f"{info.kind}List", "apiVersion": info.api_version,
                              "metadata": {"resourceVersion": str(self.store.resource_version)},
                              "items": deleted})

    # ---- logs --------------------------------------------------------------------------------------

    async def logs(self, request: web.Request, namespace: str | None, name: str) -> web.StreamResponse:
        pod = self._get(RESOURCES["pods"], namespace, name)
        q = request.query
        containers = [c.get("name") for c in pod.get("spec", {}).get("containers") or []]
        container = q.get("container")
        if container and container not in containers + [c.get("name") for c in pod["spec"].get("initContainers") or []]:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        key = (namespace or "", name)
        lines = list(self.store.logs.get(key, []))
        tail = q.get("tailLines")
        if tail is not None:
            try:
                n = int(tail)
            except ValueError:
                raise BadRequest("tailLines must be an integer") from None
            lines = lines[-n:] if n > 0 else []
        limit = q.get("limitBytes")

        def fmt(ls: list[str]) -> bytes:
            return "".join(x if x.endswith("\n") else x + "\n" for x in ls).encode()

        if q.get("follow") not in ("true", "1"):
            data = fmt(lines)
            if limit and limit.isdigit():
                data = data[: int(limit)]
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        sent = len(self.store.logs.get(key, []))
        try:
            if lines:
                await resp.write(fmt(lines))
            while True:
                waiter = self.store.log_waiter(*key)
                try:
                    await asyncio.wait_for(waiter.wait(), 0.5)
                except TimeoutError:
                    pass
                current = self.store.logs.get(key, [])
                if len(current) > sent:
                    await resp.write(fmt(current[sent:]))
                    sent = len(current)
                if self.store.get("pods", namespace, name) is None:
                    break
                if request.transport is None or request.transport.is_closing():
                    break
        except ConnectionResetError:
            pass
        try:
            await resp.write_eof()
        except Exception:
            pass
        return resp
