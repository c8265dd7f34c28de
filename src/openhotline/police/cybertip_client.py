"""The CyberTipline Reporting API client (NCMEC's "ISP web services", HTTP Basic + XML).

Endpoints, relative to the configured base URL (see docs/ncmec.md for what was checked):
POST /submit (the <report> XML; answers <reportResponse> with <reportId>), POST /upload
(multipart: `id` = report id, `file`; answers <fileId>), POST /fileinfo (a <fileDetails>
XML), POST /finish (form `id`; answers <reportDoneResponse>), POST /retract (form `id`).
Every answer carries <responseCode> (0 = success). Errors come in two kinds: transient
(5xx, 429, time-outs, connection errors, NCMEC's server-error code 1000) are retried by the
job queue; rejected (bad credentials, invalid XML, unknown report) are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx
from lxml import etree

SUCCESS = 0
SERVER_ERROR = 1000
AUTH_CODES = (2000, 3000)  # authentication required, not authorised
NO_SUCH_REPORT = 5001
ALREADY_FINISHED = 5102
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class CybertipError(Exception):
    """A call to the CyberTipline failed; the message is safe to show and to store."""


class CybertipTransientError(CybertipError):
    """Worth retrying later: NCMEC or the network is down or slow."""


class CybertipRejectedError(CybertipError):
    """NCMEC refused the request: retrying the same request cannot help."""

    def __init__(self, message: str, *, code: int | None = None, auth: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.auth = auth


@dataclass(frozen=True)
class CybertipAnswer:
    """A parsed <reportResponse> or <reportDoneResponse>."""

    code: int
    description: str
    report_id: int | None = None
    file_id: str | None = None
    file_ids: list[str] = field(default_factory=list)


class CybertipClient(Protocol):
    """The CyberTipline calls the submission jobs make (the HTTP one, or a test's)."""

    def submit(self, report_xml: bytes) -> int:
        """Open a report; return the report id NCMEC assigned."""
        ...

    def upload(self, report_id: int, file_name: str, data: bytes) -> str:
        """Upload one file to an open report; return its file id."""
        ...

    def fileinfo(self, details_xml: bytes) -> None:
        """Send one file's <fileDetails>."""
        ...

    def finish(self, report_id: int) -> list[str]:
        """Complete the report; return the file ids NCMEC lists for it."""
        ...

    def retract(self, report_id: int) -> None:
        """Cancel a report that is not finished."""
        ...


def parse_answer(body: bytes) -> CybertipAnswer:
    """Read an XML answer; CybertipTransientError if it is not one (a proxy's error page)."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise CybertipTransientError(f"NCMEC answered something that is not XML: {exc}") from exc
    code_text = root.findtext("responseCode")
    if code_text is None or not code_text.strip().lstrip("-").isdigit():
        raise CybertipTransientError(f"NCMEC's answer <{root.tag}> has no responseCode")
    report = (root.findtext("reportId") or "").strip()
    files = root.find("files")
    file_ids = [(f.text or "").strip() for f in files.iter("fileId")] if files is not None else []
    return CybertipAnswer(
        code=int(code_text),
        description=(root.findtext("responseDescription") or "").strip(),
        report_id=int(report) if report.isdigit() else None,
        file_id=(root.findtext("fileId") or "").strip() or None,
        file_ids=file_ids,
    )


class HttpCybertipClient:
    """The real client: HTTPS to the configured base URL only, HTTP Basic credentials."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = timeout
        self._transport = transport

    def _call(self, what: str, path: str, **request: object) -> CybertipAnswer:
        if not self._username or not self._password:
            raise CybertipRejectedError(
                "no NCMEC credentials: set OPENHOTLINE_NCMEC_USERNAME and "
                "OPENHOTLINE_NCMEC_PASSWORD",
                auth=True,
            )
        # Redirects are not followed: the report and its files go to the configured URL only.
        with httpx.Client(
            auth=(self._username, self._password),
            timeout=self._timeout,
            transport=self._transport,
            follow_redirects=False,
        ) as client:
            try:
                response = client.post(f"{self.base_url}{path}", **request)  # type: ignore[arg-type]
            except httpx.TimeoutException as exc:
                raise CybertipTransientError(f"{what}: NCMEC did not answer in time") from exc
            except httpx.TransportError as exc:
                raise CybertipTransientError(f"{what}: cannot reach NCMEC ({exc})") from exc
        status = response.status_code
        if status in (401, 403):
            raise CybertipRejectedError(
                f"{what}: NCMEC refused the credentials (HTTP {status}); check "
                "OPENHOTLINE_NCMEC_USERNAME and OPENHOTLINE_NCMEC_PASSWORD",
                auth=True,
            )
        if status >= 500 or status == 429:
            raise CybertipTransientError(f"{what}: NCMEC answered HTTP {status}")
        answer = parse_answer(response.content) if response.content.strip() else None
        if answer is None:
            if status >= 300:
                raise CybertipRejectedError(f"{what}: NCMEC answered HTTP {status}")
            raise CybertipTransientError(f"{what}: NCMEC answered HTTP {status} with no body")
        if answer.code == SUCCESS and status < 300:
            return answer
        detail = f"{what}: NCMEC answered code {answer.code} ({answer.description or 'no text'})"
        if answer.code == SERVER_ERROR:
            raise CybertipTransientError(detail)
        raise CybertipRejectedError(detail, code=answer.code, auth=answer.code in AUTH_CODES)

    def submit(self, report_xml: bytes) -> int:
        """POST /submit with the report XML."""
        answer = self._call(
            "open report",
            "/submit",
            content=report_xml,
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
        if answer.report_id is None:
            raise CybertipTransientError("open report: NCMEC's answer has no reportId")
        return answer.report_id

    def upload(self, report_id: int, file_name: str, data: bytes) -> str:
        """POST /upload, multipart with the report id."""
        answer = self._call(
            "upload file",
            "/upload",
            data={"id": str(report_id)},
            files={"file": (file_name, data, "application/octet-stream")},
        )
        if not answer.file_id:
            raise CybertipTransientError("upload file: NCMEC's answer has no fileId")
        return answer.file_id

    def fileinfo(self, details_xml: bytes) -> None:
        """POST /fileinfo with one fileDetails document."""
        self._call(
            "file details",
            "/fileinfo",
            content=details_xml,
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )

    def finish(self, report_id: int) -> list[str]:
        """POST /finish; a report NCMEC says is finished already counts as finished."""
        try:
            return self._call("finish report", "/finish", data={"id": str(report_id)}).file_ids
        except CybertipRejectedError as exc:
            if exc.code == ALREADY_FINISHED:  # an earlier try got through before a crash
                return []
            raise

    def retract(self, report_id: int) -> None:
        """POST /retract; a report NCMEC no longer has counts as retracted."""
        try:
            self._call("retract report", "/retract", data={"id": str(report_id)})
        except CybertipRejectedError as exc:
            if exc.code != NO_SUCH_REPORT:
                raise
