"""NCMEC CyberTipline report XML for US-hosted content: build from a case, validate by XSD.

Produces the report document (incidentSummary, internetDetails/webPageIncident, reporter)
and one fileDetails document per item with its hashes. NCMEC assigns reportId and fileId
when a report is submitted, so fileDetails carry reportId 0 and a provisional fileId until
then. Nothing is sent from here: police/ncmec.py submits these documents, with the ids
NCMEC assigned, for police channels whose delivery is "ncmec".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from lxml import etree

from openhotline.errors import InvalidError

XSD_PATH = Path(__file__).with_name("cybertip.xsd")
INCIDENT_TYPE = "Child Pornography (possession, manufacture, and distribution)"


class CybertipError(InvalidError):
    """The document does not match the schema; `problems` lists each error."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Reporter:
    """Who files the report (the hotline's contact person)."""

    email: str
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True)
class FileHashes:
    """One item's hashes (hex)."""

    sha256: str
    md5: str | None = None
    sha1: str | None = None
    pdq: str | None = None
    media_url: str | None = None


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def report_xml(
    urls: list[str],
    incident_at: datetime,
    reporter: Reporter,
    *,
    summary: str = "",
    hotline: str = "",
) -> bytes:
    """The report document for content at urls, first seen at incident_at."""
    root = ET.Element("report")
    incident = _sub(root, "incidentSummary")
    _sub(incident, "incidentType", INCIDENT_TYPE)
    _sub(incident, "incidentDateTime", incident_at.isoformat(timespec="seconds"))
    _sub(incident, "incidentDateTimeDescription", "first report of the URL to the hotline")
    details = _sub(root, "internetDetails")
    page = _sub(details, "webPageIncident")
    page.set("thirdPartyHostedContent", "true")
    for url in urls:
        _sub(page, "url", url)
    if summary:
        _sub(page, "additionalInfo", summary)
    rep = _sub(root, "reporter")
    person = _sub(rep, "reportingPerson")
    if reporter.first_name:
        _sub(person, "firstName", reporter.first_name)
    if reporter.last_name:
        _sub(person, "lastName", reporter.last_name)
    _sub(person, "email", reporter.email)
    if hotline:
        _sub(root, "additionalInfo", f"Referred by {hotline} (openhotline).")
    return _bytes(root)


def file_details_xml(
    item: FileHashes, *, report_id: int = 0, file_id: str = "", file_name: str = ""
) -> bytes:
    """One fileDetails document with the item's hashes (ids as NCMEC assigned them, once known)."""
    root = ET.Element("fileDetails")
    _sub(root, "reportId", str(report_id))
    _sub(root, "fileId", file_id or f"provisional-{item.sha256[:16]}")
    _sub(root, "originalFileName", file_name or f"{item.sha256}.bin")
    if item.media_url:
        _sub(root, "locationOfFile", item.media_url)
    _sub(root, "fileViewedByEsp", "true")
    _sub(root, "publiclyAvailable", "true")
    for kind, value in (
        ("MD5", item.md5),
        ("SHA1", item.sha1),
        ("SHA256", item.sha256),
        ("PDQ", item.pdq),
    ):
        if value:
            _sub(root, "originalFileHash", value).set("hashType", kind)
    return _bytes(root)


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def validate(document: bytes) -> None:
    """Raise CybertipError unless document is a valid report or fileDetails document."""
    try:
        tree = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise CybertipError([f"not well-formed XML: {exc}"]) from exc
    if tree.getroottree().docinfo.doctype:
        raise CybertipError(["a DOCTYPE is not allowed (no DTDs or entities)"])
    schema = _schema()
    try:
        valid = schema.validate(tree)
    except etree.XMLSchemaValidateError as exc:
        raise CybertipError([f"schema validation failed: {exc}"]) from exc
    if not valid:
        raise CybertipError([f"line {e.line}: {e.message}" for e in schema.error_log])
    # A few checks the XSD cannot express: hash lengths must match their type.
    lengths = {"MD5": 32, "SHA1": 40, "SHA256": 64, "PDQ": 64}
    problems = [
        f"originalFileHash {h.get('hashType')} must be {lengths[h.get('hashType')]} hex digits"
        for h in tree.iter("originalFileHash")
        if len(h.text or "") != lengths[h.get("hashType")]
    ]
    if problems:
        raise CybertipError(problems)
