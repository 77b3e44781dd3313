"""Glance v2 under `/image`: list and show images (filters: name, tag, status,
visibility, owner...). Pre-seeded public images: an Ubuntu image and the image tagged
`taikun-lb` that Taikun load-balancer servers boot from."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from aiohttp import web

from .base import ApiError, Service, iso_now, json_response, matches, new_id

SEED = (
    ("ubuntu-24.04-server-cloudimg-amd64", ["ubuntu", "os_distro:ubuntu"], 629145600,
     {"os_distro": "ubuntu", "os_version": "24.04"}),
    ("taikun-lb-haproxy-keepalived", ["taikun-lb"], 734003200,
     {"os_distro": "ubuntu", "os_version": "22.04", "description": "Taikun load balancer (HAProxy + keepalived)"}),
)


class Image(Service):
    type = "image"
    name = "glance"
    prefix = "/image"

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.images: dict[str, dict] = {}
        owner = cloud.identity.project_id("service")
        for name, tags, size, props in SEED:
            iid = new_id()
            stamp = iso_now()
            self.images[iid] = {
                "id": iid, "name": name, "status": "active", "visibility": "public", "protected": False,
                "os_hidden": False, "tags": list(tags), "container_format": "bare", "disk_format": "qcow2",
                "min_disk": 10, "min_ram": 512, "size": size, "virtual_size": size * 4,
                "checksum": hashlib.md5(name.encode()).hexdigest(),
                "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(name.encode()).hexdigest(),
                "owner": owner, "created_at": stamp, "updated_at": stamp,
                "self": f"/v2/images/{iid}", "file": f"/v2/images/{iid}/file", "schema": "/v2/schemas/image",
                "architecture": "x86_64", "hw_disk_bus": "virtio", **props,
            }

    def routes(self):
        p = self.prefix
        return [
            ("GET", p, self.versions, False),
            ("GET", p + "/", self.versions, False),
            ("GET", p + "/versions", self.versions_200, False),
            ("GET", p + "/v2/images", self.list_images, True),
            ("GET", p + "/v2/images/{image_id}", self.get_image, True),
        ]

    def error_response(self, e: ApiError) -> web.Response:
        if e.kind == "Unauthorized":
            return super().error_response(e)
        reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
        reason = reasons.get(e.status, "Error")
        return web.Response(text=f"{e.status} {reason}\n\n{e.message}\n\n   ", status=e.status,
                            content_type="text/plain")

    def _versions(self) -> dict:
        ids = ["v2.16", "v2.15", "v2.9", "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"]
        return {"versions": [{"id": v, "status": "CURRENT" if i == 0 else "SUPPORTED",
                              "links": [{"rel": "self", "href": self.base_url + "/v2/"}]}
                             for i, v in enumerate(ids)]}

    async def versions(self, request: web.Request) -> web.Response:
        return json_response(self._versions(), status=300)

    async def versions_200(self, request: web.Request) -> web.Response:
        return json_response(self._versions())

    def _visible(self, image: dict, project_id: str) -> bool:
        return image["visibility"] in ("public", "community", "shared") or image["owner"] == project_id

    async def list_images(self, request: web.Request) -> web.Response:
        token = request["token"]
        q = request.query
        items = [i for i in self.images.values() if self._visible(i, token.project_id)]
        tags = q.getall("tag", [])
        items = [i for i in items if all(t in i["tags"] for t in tags)]
        items = [i for i in items if matches(i, q, skip=("tag",))]
        if q.get("marker"):
            ids = [i["id"] for i in items]
            if q["marker"] not in ids:
                raise ApiError(400, f"marker {q['marker']} could not be found.")
            items = items[ids.index(q["marker"]) + 1:]
        body = {"images": items, "first": "/v2/images" + ("?" + urlencode(list(q.items())) if q else ""),
                "schema": "/v2/schemas/images"}
        limit = q.get("limit")
        if limit and limit.isdigit() and 0 < int(limit) < len(items):
            body["images"] = items[:int(limit)]
            rest = [(k, v) for k, v in q.items() if k != "marker"] + [("marker", items[int(limit) - 1]["id"])]
            body["next"] = "/v2/images?" + urlencode(rest)
        return json_response(body)

    async def get_image(self, request: web.Request) -> web.Response:
        iid = request.match_info["image_id"]
        image = self.images.get(iid)
        if image is None or not self._visible(image, request["token"].project_id):
            raise ApiError(404, f"No image found with ID {iid}")
        return json_response(image)
