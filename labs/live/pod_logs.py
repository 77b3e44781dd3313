"""ws/sessions/<id>/pods/<name>/logs/: a pod's log, followed live in its dialog (`kubectl logs -f`).

One socket per open logs dialog; it holds one follow request to the cluster (the
log stream cannot come from the shared watch) and ends it when the dialog goes
(the page removes the socket's element), when the pod is deleted, or once the
stream has sent MAX_LINES lines or MAX_BYTES bytes, saying so. The official
client's stream is blocking: a thread reads it and hands chunks to the socket.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import threading
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ReadTimeoutError

from clouds import kube
from clouds.kube import api_message
from labs.access import can_view_session
from labs.manifests import name_problem
from labs.models import LabSession

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
DEFAULT_LINES = 200
MAX_TAIL_LINES = 2000
MAX_LINES = 2000  # lines one stream sends (its tail included) before it stops
MAX_BYTES = 256 * 1024  # bytes one stream sends before it stops
CONNECT_TIMEOUT = 5
IDLE_TIMEOUT = 15 * 60  # a stream without a new line for this long stops (its socket may be long forgotten)
CHUNK = 16 * 1024


def _load(session_id):
    return LabSession.objects.select_related("cluster", "user").filter(pk=session_id).first()


def status_html(message: str, error: bool = False) -> str:
    return render_to_string("labs/objects/log_status.html", {"message": message, "error": error, "oob": True})


def lines_html(text: str, first: bool) -> str:
    return render_to_string("labs/objects/log_lines.html", {"text": text, "swap": "innerHTML" if first else "beforeend"})


def _query(scope) -> tuple[int, str]:
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    try:
        lines = int((query.get("lines") or [DEFAULT_LINES])[0])
    except ValueError:
        lines = DEFAULT_LINES
    return max(1, min(lines, MAX_TAIL_LINES)), (query.get("container") or [""])[0]


class Budget:
    """What a stream may still send: it cuts a chunk at the line or byte limit."""

    def __init__(self, lines: int = MAX_LINES, size: int = MAX_BYTES):
        self.lines, self.size = lines, size

    def take(self, text: str) -> tuple[str, bool]:
        """(the part of `text` within the budget, whether the budget is now spent)."""
        kept, spent = [], False
        for line in text.splitlines(keepends=True):
            size = len(line.encode())
            if self.lines <= 0 or size > self.size:
                spent = True
                break
            kept.append(line)
            self.size -= size
            if line.endswith("\n"):
                self.lines -= 1
        if self.lines <= 0 or self.size <= 0:
            spent = True
        return "".join(kept), spent


class LogStream:
    """A follow request to the cluster, read in a thread; chunks, errors and the end go to `deliver`."""

    def __init__(self, session: LabSession, pod: str, container: str, tail: int, deliver):
        self.session, self.pod, self.container, self.tail = session, pod, container or None, tail
        self.deliver = deliver  # called from the thread with ("open" | "text" | "error" | "idle" | "end", value)
        self.stopped = threading.Event()
        self.response = None
        self.thread = threading.Thread(target=self._read, name=f"pod-log-{pod}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ends the request: a read blocked on the socket returns at once."""
        self.stopped.set()
        response = self.response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # already closed
                pass

    def _read(self) -> None:
        where = f"pod/{self.pod}"
        try:
            response = kube.core(self.session.cluster).read_namespaced_pod_log(
                self.pod, self.session.namespace, container=self.container, follow=True, tail_lines=self.tail,
                _preload_content=False, _request_timeout=(CONNECT_TIMEOUT, IDLE_TIMEOUT))
        except ApiException as exc:
            if exc.status == 404:
                self.deliver("error", f"{where} does not exist in namespace {self.session.namespace}.")
            else:
                self.deliver("error", f"No logs for {where}: {api_message(exc)}")
            return
        except Exception:
            logger.warning("following the logs of %s in %s failed", self.pod, self.session.namespace, exc_info=True)
            self.deliver("error", f"Could not follow the logs of {where}: the cluster is unavailable.")
            return
        self.response = response
        if self.stopped.is_set():
            response.shutdown()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.deliver("open", None)
        try:
            for chunk in response.stream(CHUNK, decode_content=True):
                if self.stopped.is_set():
                    break
                text = decoder.decode(chunk)
                if text:
                    self.deliver("text", text)
        except ReadTimeoutError:
            self.deliver("idle", f"No new line from {where} for {IDLE_TIMEOUT // 60} minutes: stopped following. "
                                 "Press Refresh to follow again.")
            return
        except Exception:
            if not self.stopped.is_set():
                self.deliver("error", f"The log stream of {where} was cut: press Refresh to follow it again.")
                return
        finally:
            response.close()
            response.release_conn()
        if not self.stopped.is_set():  # the pod went (or its container stopped), not the page
            self.deliver("end", None)


class PodLogConsumer(AsyncWebsocketConsumer):
    """Sends the pod's last lines, then each new one, as out-of-band swaps of the logs dialog."""

    stream = None
    pump = None

    async def connect(self):
        kwargs = self.scope["url_route"]["kwargs"]
        self.pod = kwargs["name"]
        user = self.scope.get("user")
        session = await sync_to_async(_load)(kwargs["session_id"])
        allowed = user is not None and session is not None and await sync_to_async(can_view_session)(user, session)
        await self.accept()  # first, so that the browser sees the close code
        if not allowed:
            await self.close(code=FORBIDDEN)
            return
        tail, container = _query(self.scope)
        problem = name_problem(self.pod, "Pod") or (container and name_problem(container, "Container"))
        if problem:
            await self.finish(f"{self.pod!r} is not a valid pod name." if name_problem(self.pod, "Pod")
                              else f"{container!r} is not a valid container name.", error=True)
            return
        if session.state != LabSession.State.READY:
            await self.finish(f"The lab is {session.get_state_display().lower()}: its pods no longer log.", error=True)
            return
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.stream = LogStream(session, self.pod, container, tail, self._deliver)
        self.pump = asyncio.ensure_future(self._pump())
        self.stream.start()

    async def disconnect(self, code):
        if self.stream is not None:
            self.stream.stop()
        if self.pump is not None:
            self.pump.cancel()

    async def receive(self, text_data=None, bytes_data=None):
        pass  # nothing is read from the page

    def _deliver(self, what: str, value) -> None:
        """From the stream's thread: hand over to the socket's loop (gone with the socket: nothing to do)."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (what, value))
        except RuntimeError:  # the loop is closed
            self.stream.stop()

    async def finish(self, message: str, error: bool = False) -> None:
        await self.send(text_data=status_html(message, error))
        await self.close(code=1000)

    async def _pump(self):
        """Hands what the stream read to the page, what piled up meanwhile in one message."""
        self.budget, self.first = Budget(), True
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty():
                items.append(self.queue.get_nowait())
            text = ""
            for what, value in items:
                if what == "text":
                    text += value
                    continue
                if text and not await self._send_lines(text):
                    return
                text = ""
                if not await self._say(what, value):
                    return
            if text and not await self._send_lines(text):
                return

    async def _send_lines(self, text: str) -> bool:
        """Sends what the budget allows; False once it is spent (the stream then stops)."""
        kept, spent = self.budget.take(text)
        if kept:
            await self.send(text_data=lines_html(kept, self.first))
            self.first = False
        if spent:
            self.stream.stop()
            await self.finish(f"Stopped following after {MAX_LINES:,} lines or {MAX_BYTES // 1024} KiB, "
                              "the most one stream sends: press Refresh to follow again.")
        return not spent

    async def _say(self, what: str, value) -> bool:
        """The stream opened, failed or ended; False when the socket is done."""
        where = f"pod/{self.pod}"
        if what == "open":
            await self.send(text_data=status_html(f"Following: new lines appear as {where} writes them."))
            return True
        if what in ("error", "idle"):
            await self.finish(value, error=what == "error")
        else:
            await self.finish(f"The log stream of {where} ended (the pod was deleted or its container stopped).")
        return False
