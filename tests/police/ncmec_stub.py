"""A local stand-in for NCMEC's CyberTipline Reporting API, served on 127.0.0.1 by uvicorn.

It checks HTTP Basic credentials, validates every <report> and <fileDetails> document
against openhotline's XSD, keeps reports, files and their states, answers in the
<reportResponse>/<reportDoneResponse> shape, and can be told to fail: `fail_next[path]`
answers the next N calls of a path with HTTP 503, `reject[path]` answers every call of a
path with a validation error (code 4100). Run it alone for a manual try:
`python -m tests.police.ncmec_stub --port 8907 --user u --password p`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

import uvicorn
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import Response
from lxml import etree

from openhotline.exports import cybertip


def _xml(root: str, code: int, description: str, **fields: object) -> str:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items() if v is not None)
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><{root}>'
        f"<responseCode>{code}</responseCode><responseDescription>{description}"
        f"</responseDescription>{body}</{root}>"
    )


@dataclass
class StubReport:
    """One report as the stub holds it."""

    report_id: int
    xml: bytes
    files: dict[str, dict[str, object]] = field(default_factory=dict)
    finished: bool = False
    retracted: bool = False


@dataclass
class StubState:
    """Everything the stub saw and holds."""

    user: str
    password: str
    reports: dict[int, StubReport] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_next: dict[str, int] = field(default_factory=dict)
    reject: set[str] = field(default_factory=set)
    slow: dict[str, float] = field(default_factory=dict)  # seconds each call of a path takes
    next_report: int = 4564654
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        """How many calls a path got (failed ones included)."""
        return self.calls.count(path)


def make_app(state: StubState) -> FastAPI:
    """The stub's routes over one state."""
    app = FastAPI()

    def xml(text: str, status: int = 200) -> Response:
        return Response(text, status_code=status, media_type="application/xml")

    def gate(request: Request, path: str) -> Response | None:
        time.sleep(state.slow.get(path, 0.0))  # a slow NCMEC: time to kill a worker mid-call
        with state.lock:
            state.calls.append(path)
            expected = base64.b64encode(f"{state.user}:{state.password}".encode()).decode()
            if request.headers.get("authorization", "") != f"Basic {expected}":
                return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="x"'})
            if state.fail_next.get(path, 0) > 0:
                state.fail_next[path] -= 1
                return Response("<html>Service Unavailable</html>", status_code=503)
            if path in state.reject:
                return xml(_xml("reportResponse", 4100, "Validation failed (told to)"), 400)
        return None

    def invalid(doc: bytes) -> Response | None:
        try:
            cybertip.validate(doc)
        except cybertip.CybertipError as exc:
            return xml(_xml("reportResponse", 4100, f"Validation failed: {exc}"), 400)
        return None

    def open_report(report_id: int) -> StubReport | Response:
        report = state.reports.get(report_id)
        if report is None or report.retracted:
            return xml(_xml("reportResponse", 5001, "Report does not exist"), 400)
        if report.finished:
            return xml(_xml("reportResponse", 5102, "Report already finished"), 400)
        return report

    @app.post("/ispws/submit")
    async def submit(request: Request) -> Response:
        refused = gate(request, "/submit")
        if refused is not None:
            return refused
        doc = await request.body()
        bad = invalid(doc)
        if bad is not None:
            return bad
        with state.lock:
            report_id = state.next_report
            state.next_report += 1
            state.reports[report_id] = StubReport(report_id, doc)
        return xml(_xml("reportResponse", 0, "Success", reportId=report_id))

    @app.post("/ispws/upload")
    async def upload(
        request: Request,
        id: Annotated[str, Form()],
        file: Annotated[UploadFile, File()],
    ) -> Response:
        refused = gate(request, "/upload")
        if refused is not None:
            return refused
        report = open_report(int(id))
        if isinstance(report, Response):
            return report
        data = await file.read()
        file_id = secrets.token_hex(16)
        report.files[file_id] = {
            "name": file.filename,
            "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - NCMEC's answer carries MD5
            "sha256": hashlib.sha256(data).hexdigest(),
            "details": None,
        }
        md5 = report.files[file_id]["md5"]
        return xml(_xml("reportResponse", 0, "Success", reportId=id, fileId=file_id, hash=md5))

    @app.post("/ispws/fileinfo")
    async def fileinfo(request: Request) -> Response:
        refused = gate(request, "/fileinfo")
        if refused is not None:
            return refused
        doc = await request.body()
        bad = invalid(doc)
        if bad is not None:
            return bad
        root = etree.fromstring(doc)
        report = open_report(int(root.findtext("reportId") or 0))
        if isinstance(report, Response):
            return report
        file_id = root.findtext("fileId") or ""
        if file_id not in report.files:
            return xml(_xml("reportResponse", 4100, f"no file {file_id} in this report"), 400)
        report.files[file_id]["details"] = doc
        return xml(_xml("reportResponse", 0, "Success", reportId=report.report_id))

    @app.post("/ispws/finish")
    async def finish(request: Request, id: Annotated[str, Form()]) -> Response:
        refused = gate(request, "/finish")
        if refused is not None:
            return refused
        report = open_report(int(id))
        if isinstance(report, Response):
            return report
        report.finished = True
        files = "".join(f"<fileId>{f}</fileId>" for f in report.files)
        return xml(_xml("reportDoneResponse", 0, "Success", reportId=id, files=files or None))

    @app.post("/ispws/retract")
    async def retract(request: Request, id: Annotated[str, Form()]) -> Response:
        refused = gate(request, "/retract")
        if refused is not None:
            return refused
        report = open_report(int(id))
        if isinstance(report, Response):
            return report
        report.retracted = True
        return xml(_xml("reportResponse", 0, "Success", reportId=id))

    return app


class StubServer:
    """The stub on a free port of 127.0.0.1, in a thread (started and stopped by a test)."""

    def __init__(
        self,
        user: str = "esp-user",
        password: str = "esp-pass",  # noqa: S107 - the stub's made-up test credentials
        port: int = 0,
    ) -> None:
        self.state = StubState(user, password)
        config = uvicorn.Config(
            make_app(self.state), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        """The API base, like https://exttest.cybertip.org/ispws."""
        sock = self.server.servers[0].sockets[0]
        return f"http://127.0.0.1:{sock.getsockname()[1]}/ispws"

    def start(self) -> StubServer:
        """Serve until stop()."""
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the NCMEC stub did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(10)


def main() -> None:
    """Serve the stub in the foreground (manual tries with `openhotline worker`)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8907)
    parser.add_argument("--user", default="esp-user")
    parser.add_argument("--password", default="esp-pass")
    parser.add_argument("--fail-upload", type=int, default=0, help="503 on the first N uploads")
    parser.add_argument("--slow-upload", type=float, default=0.0, help="seconds per upload")
    args = parser.parse_args()
    stub = StubServer(args.user, args.password, args.port)
    stub.state.fail_next["/upload"] = args.fail_upload
    stub.state.slow["/upload"] = args.slow_upload
    stub.start()
    print(f"NCMEC stub on {stub.base_url}", flush=True)
    try:
        while True:
            time.sleep(5)
            with stub.state.lock:
                for r in stub.state.reports.values():
                    print(
                        f"report {r.report_id}: files {len(r.files)} finished {r.finished} "
                        f"retracted {r.retracted}; calls {stub.state.calls}",
                        flush=True,
                    )
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
