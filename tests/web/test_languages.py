"""Every public page in six languages: nothing left untranslated, negotiation, links, e-mails.

The page list is enumerated from the app's routes: a public HTML route (outside /console and
/api) that no scenario below renders fails ``test_every_public_route_has_a_scenario``, so a
page added later cannot slip through untranslated.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline import i18n
from openhotline.app import create_app
from openhotline.blocklist.models import Appeal
from openhotline.blocklist.service import appeal_reply, decide_appeal
from openhotline.cases.models import Case, CaseStatus
from openhotline.config import Settings
from openhotline.reporting.feedback import feedback_message
from openhotline.reporting.models import Report, ReportURL
from tests.case_support import walk_to
from tests.console_fixtures import png_bytes
from tests.web.routes import api_routes

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [x for x in i18n.LANGUAGES if x != "en"]

# Routes that are not pages a person reads: data files, the poll JSON, the API's own
# developer documentation (English, like the API), machine endpoints.
NOT_PAGES = {
    ("GET", "/transparency/hosts.csv"),
    ("GET", "/helpline/chat/c/{token}/messages"),
    ("GET", "/api/docs"),
    ("GET", "/metrics"),
    ("POST", "/helpline/webhooks/sms"),
    ("POST", "/helpline/webhooks/whatsapp"),
    # TwiML for the provider; the spoken greeting is a setting in the helpline's language.
    ("POST", "/helpline/webhooks/voice"),
    ("POST", "/helpline/webhooks/voice/status"),
}
# Names that stay the same in every language.
SAME_EVERYWHERE = {"openhotline", *i18n.LANGUAGE_NAMES.values()}


class _Text(HTMLParser):
    """Visible text segments and human-read attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("alt", "title", "aria-label", "placeholder") and value:
                self.parts.append(value.strip())
            if name in ("data-you", "data-counsellor") and value:
                self.parts.append(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.extend(line.strip() for line in data.splitlines() if line.strip())


def segments(html: str) -> list[str]:
    """The text a reader sees on a page, one segment per text node line."""
    parser = _Text()
    parser.feed(html)
    return parser.parts


def _translations(language: str) -> set[str]:
    path = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    out: set[str] = set()
    for message in catalog:
        strings = [message.string] if isinstance(message.string, str) else message.string
        out.update(s for s in strings if s)
    return out


def untranslated(english: str, other: str, language: str, data: set[str]) -> list[str]:
    """Segments of ``other`` still as in English (and not a translation that happens to be)."""
    source = set(segments(english))
    known = _translations(language)
    out = []
    for part in segments(other):
        if part not in source or not re.search(r"[^\W\d_]{2,}", part):
            continue
        if part in SAME_EVERYWHERE or part in data:
            continue
        # A translator may rightly keep a word ("Total" in French): it is then in the catalog.
        if any(part == t or part in t for t in known):
            continue
        out.append(part)
    return out


# --- the scenarios: every public page, in each of its states -----------------------------

Scenario = Callable[[TestClient, str], list[str]]
TYPED = {"http://example.test/typed", "javascript:alert(1)", "synthetic worry"}


def _q(language: str) -> str:
    return f"?lang={language}"


def _home(c: TestClient, lang: str) -> list[str]:
    return [c.get("/" + _q(lang)).text]


def _report_form(c: TestClient, lang: str) -> list[str]:
    ok = c.get("/report" + _q(lang)).text
    bad = c.post("/report" + _q(lang), data={"urls": "javascript:alert(1)"})
    consent = c.post(
        "/report" + _q(lang), data={"urls": "http://example.test/typed", "contact_email": "a@b.c"}
    )
    empty = c.post("/report" + _q(lang), data={"urls": ""})
    assert bad.status_code == consent.status_code == empty.status_code == 400
    return [ok, bad.text, consent.text, empty.text]


def _report_thanks(c: TestClient, lang: str) -> list[str]:
    r = c.post("/report" + _q(lang), data={"urls": f"http://example.test/{lang}"})
    assert r.status_code == 200 and f"lang={lang}" in str(r.url)
    return [r.text]


def _report_status(c: TestClient, lang: str) -> list[str]:
    thanks = c.post("/report" + _q(lang), data={"urls": f"http://example.test/s/{lang}"})
    receipt = re.search(r'id="receipt">([0-9A-Z-]+)<', thanks.text)
    assert receipt
    found = c.get("/report/status", params={"receipt": receipt.group(1), "lang": lang})
    missing = c.get("/report/status", params={"receipt": "nope", "lang": lang})
    return [c.get("/report/status" + _q(lang)).text, found.text, missing.text]


def _appeal(c: TestClient, lang: str) -> list[str]:
    form = c.get("/appeal" + _q(lang)).text
    bad = c.post("/appeal" + _q(lang), data={"url": "http://example.test/typed", "reason": ""})
    bad_url = c.post("/appeal" + _q(lang), data={"url": "javascript:alert(1)", "reason": "x y"})
    thanks = c.post(
        "/appeal" + _q(lang),
        data={"url": "http://example.test/typed", "reason": "gone", "contact_email": "o@x.test"},
    )
    return [form, bad.text, bad_url.text, thanks.text]


def _chat_start(c: TestClient, lang: str) -> list[str]:
    pages = [c.get(f"/helpline/chat/{mode}" + _q(lang)).text for mode in ("child", "prevention")]
    pages.append(c.post("/helpline/chat/child" + _q(lang), data={"message": ""}).text)
    pages.append(c.get("/helpline/chat/nobody" + _q(lang)).text)
    return pages


def _chat_page(c: TestClient, lang: str) -> list[str]:
    r = c.post("/helpline/chat/child" + _q(lang), data={"message": "synthetic worry"})
    assert r.status_code == 200 and f"lang={lang}" in str(r.url)
    unknown = c.get("/helpline/chat/c/not-a-token" + _q(lang)).text
    return [r.text, unknown]


def _report_remove(c: TestClient, lang: str) -> list[str]:
    start = c.get("/report-remove" + _q(lang)).text
    refused = c.post("/report-remove" + _q(lang), files={"file": ("x.png", b"not an image")})
    receipt = c.post("/report-remove" + _q(lang), files={"file": ("p.png", png_bytes(7))})
    assert receipt.status_code == 200, receipt.text
    codes = dict(re.findall(r'id="(reference|secret)">([0-9A-Z-]+)<', receipt.text))
    status_form = c.get("/report-remove/status" + _q(lang)).text
    status = c.post("/report-remove/status" + _q(lang), data=codes)
    assert status.status_code == 200
    not_found = c.post("/report-remove/status" + _q(lang), data={"reference": "x", "secret": "y"})
    return [start, refused.text, receipt.text, status_form, status.text, not_found.text]


def _transparency(c: TestClient, lang: str) -> list[str]:
    return [c.get("/transparency/hosts" + _q(lang)).text]


def _errors(c: TestClient, lang: str) -> list[str]:
    page = c.get("/no-such-page" + _q(lang), headers={"Accept": "text/html"})
    assert page.status_code == 404
    return [page.text]


# (method, route path) -> the scenario that renders it.
SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("GET", "/"): _home,
    ("GET", "/report"): _report_form,
    ("POST", "/report"): _report_form,
    ("GET", "/report/thanks"): _report_thanks,
    ("GET", "/report/status"): _report_status,
    ("GET", "/appeal"): _appeal,
    ("POST", "/appeal"): _appeal,
    ("GET", "/helpline/chat/{mode}"): _chat_start,
    ("POST", "/helpline/chat/{mode}"): _chat_start,
    ("GET", "/helpline/chat/c/{token}"): _chat_page,
    ("POST", "/helpline/chat/c/{token}"): _chat_page,
    ("GET", "/report-remove"): _report_remove,
    ("POST", "/report-remove"): _report_remove,
    ("GET", "/report-remove/status"): _report_remove,
    ("POST", "/report-remove/status"): _report_remove,
    ("GET", "/transparency/hosts"): _transparency,
    ("GET", "*error*"): _errors,
}


def public_routes(settings: Settings) -> set[tuple[str, str]]:
    """Every (method, path) of the app outside the console, the API and static files."""
    out = set()
    for route in api_routes(create_app(settings)):
        path = route.path
        if path.startswith(("/console", "/api/v1")) or route.include_in_schema:
            continue  # the console (English only) and the JSON API
        for method in route.methods or ():
            if method in ("GET", "POST"):
                out.add((method, path))
    return out


def test_every_public_route_has_a_scenario(settings: Settings) -> None:
    routes = public_routes(settings.model_copy(update={"stats_host_page_enabled": True}))
    assert ("GET", "/report") in routes and ("GET", "/helpline/chat/{mode}") in routes
    uncovered = sorted(routes - set(SCENARIOS) - NOT_PAGES)
    assert uncovered == [], f"public pages without a translation scenario: {uncovered}"


@pytest.fixture
def web(settings: Settings) -> Iterator[TestClient]:
    public = settings.model_copy(update={"stats_host_page_enabled": True})
    with TestClient(create_app(public)) as c:
        yield c


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS.values()), key=lambda f: f.__name__))
def test_public_pages_have_no_untranslated_text(web: TestClient, scenario: Scenario) -> None:
    english = scenario(web, "en")
    for language in TRANSLATED:
        pages = scenario(web, language)
        assert len(pages) == len(english)
        for en_page, page in zip(english, pages, strict=True):
            assert f'<html lang="{language}"' in page
            left = untranslated(en_page, page, language, TYPED)
            assert left == [], f"{scenario.__name__} [{language}] untranslated: {left}"


def test_the_untranslated_count_sees_a_string_left_in_english() -> None:
    english = "<p>Hello there</p><p>Report</p><p>openhotline</p><p>1 / 2</p>"
    french = "<p>Hello there</p><p>Signaler</p><p>openhotline</p><p>1 / 2</p>"
    assert untranslated(english, french, "fr", set()) == ["Hello there"]
    # "Total" is French too: kept on purpose by the translator, so it is not counted.
    assert untranslated("<td>Total</td>", "<td>Total</td>", "fr", set()) == []


def test_every_public_msgid_is_translated_in_every_language() -> None:
    msgids = i18n.public_msgids()
    assert len(msgids) > 150
    for language in TRANSLATED:
        assert i18n.missing_translations(language, msgids) == [], language


def test_arabic_catalog_has_six_plural_forms() -> None:
    with (i18n.LOCALE_DIR / "ar" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="ar")
    assert catalog.num_plurals == 6
    public = set(i18n.public_msgids())
    plural = [m for m in catalog if m.pluralizable and m.id and m.id[0] in public]
    assert plural and all(len(m.string) == 6 and all(m.string) for m in plural)
    message = plural[0]
    with i18n.use_language("ar"):
        # 0, 1, 2, 3-10, 11-99 and 100+ each pick their own form (CLDR).
        for index, n in enumerate((0, 1, 2, 5, 11, 100)):
            got = i18n.ngettext(message.id[0], message.id[1], n)
            assert got == message.string[index], n


def test_english_is_the_source_text() -> None:
    with i18n.use_language("en"):
        assert i18n.gettext("Make a report") == "Make a report"
    with i18n.use_language("fr"):
        assert i18n.gettext("Make a report") == "Faire un signalement"


# --- negotiation, links, headers -----------------------------------------------------------


def test_accept_language_query_and_default(settings: Settings) -> None:
    with TestClient(create_app(settings)) as c:
        page = c.get("/report", headers={"Accept-Language": "de-CH, fr;q=0.5"})
        assert '<html lang="de" dir="ltr">' in page.text and "Meldung senden" in page.text
        assert "accept-language" in page.headers["vary"].lower()
        # ?lang= wins over the header, and is carried on in links and the form.
        page = c.get("/report?lang=es", headers={"Accept-Language": "de"})
        assert '<html lang="es"' in page.text and 'action="/report?lang=es"' in page.text
        assert 'href="/?lang=es"' in page.text
        # A language we do not offer falls back to the header, then the default.
        page = c.get("/report?lang=xx", headers={"Accept-Language": "nl"})
        assert '<html lang="nl"' in page.text
        arabic = c.get("/report", headers={"Accept-Language": "ar"})
        assert '<html lang="ar" dir="rtl">' in arabic.text
        # Negotiated (not chosen): links stay as they are, nothing is remembered.
        assert 'action="/report"' in arabic.text
        assert "set-cookie" not in arabic.headers
        # A lang cookie is not read: the language is never remembered in a cookie.
        c.cookies.set("lang", "fr")
        assert '<html lang="en"' in c.get("/report").text
        c.cookies.clear()
    spanish = settings.model_copy(update={"default_language": "es"})
    with TestClient(create_app(spanish)) as c:
        assert '<html lang="es"' in c.get("/").text
        assert '<html lang="fr"' in c.get("/", headers={"Accept-Language": "fr"}).text


def test_switcher_and_alternates_on_every_public_page(client: TestClient) -> None:
    page = client.get("/report-remove?lang=fr").text
    for code in i18n.LANGUAGES:
        assert f'<link rel="alternate" hreflang="{code}" href="/report-remove?lang={code}">' in page
    assert 'hreflang="x-default"' in page
    assert '<nav class="languages"' in page and 'lang="ar">العربية</a>' in page
    assert '<strong lang="fr" aria-current="true">Français</strong>' in page
    chat = client.get("/helpline/chat/child?lang=nl").text
    assert '<nav class="languages"' in chat and 'action="/helpline/chat/child?lang=nl"' in chat


def test_console_stays_english_whatever_the_browser_asks(client: TestClient) -> None:
    page = client.get("/console/login", headers={"Accept-Language": "fr"})
    assert '<html lang="en"' in page.text
    page = client.get("/console/login?lang=ar")
    assert '<html lang="en" dir="ltr">' in page.text
    assert '<nav class="languages"' not in page.text
    api = client.get("/api/v1/nothing-here", headers={"Accept-Language": "fr"})
    assert api.json()["error"] and "Introuvable" not in api.text


def test_english_pages_keep_their_wording(client: TestClient) -> None:
    page = client.get("/report").text
    assert "Do not send us images or videos, and do not download or screenshot them." in page
    assert 'action="/report"' in page
    bad = client.post("/report", data={"urls": "javascript:alert(1)"}).text
    assert "Web address 1: only http and https URLs can be reported, not javascript:" in bad
    bad = client.post("/report", data={"urls": "http://example.test/", "contact_email": "nope"})
    assert "Email address: it is not a valid email address" in bad.text


def test_form_errors_in_the_reporters_language(client: TestClient) -> None:
    r = client.post("/report?lang=fr", data={"urls": "javascript:alert(1)"})
    assert "Adresse web 1 : seules les URL http et https peuvent être signalées" in r.text
    r = client.post("/report?lang=de", data={"urls": "http://example.test/", "contact_email": "x"})
    assert "E-Mail-Adresse: das ist keine gültige E-Mail-Adresse" in r.text
    r = client.post("/appeal?lang=es", data={"url": "http://example.test/", "reason": " "})
    assert "indique por qué la URL no debería figurar en la lista" in r.text
    r = client.post("/report-remove?lang=ar", files={"file": ("x.png", b"nope")})
    assert "لم نتمكن من فتح هذا الملف كصورة" in r.text


# --- e-mails in the language the person used ----------------------------------------------


def test_feedback_email_in_the_language_of_the_form(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    for language, words in (("es", "Nuestros analistas"), ("ar", "راجع المحللون")):
        r = client.post(
            f"/report?lang={language}",
            data={
                "urls": f"http://example.test/mail/{language}",
                "contact_email": f"{language}@example.test",
                "contact_consent": "1",
            },
        )
        assert r.status_code == 200
        with session_factory.begin() as s:
            report = s.execute(
                select(Report).where(Report.contact_email == f"{language}@example.test")
            ).scalar_one()
            assert report.language == language
            case = s.execute(
                select(Case).join(ReportURL).where(ReportURL.report_id == report.id)
            ).scalar_one()
            walk_to(s, case, CaseStatus.ACTIONED)
            report_id = report.id
        with session_factory() as s:
            # The configured language ("en") yields to the one the reporter used.
            msg = feedback_message(
                s, report_id, sender="h@example.test", hotline_name="Hotline", language="en"
            )
        assert msg is not None and words in msg.get_content()
    # Anonymous reports keep no language either.
    client.post("/report?lang=fr", data={"urls": "http://example.test/anon"})
    with session_factory() as s:
        assert s.execute(select(Report.language).where(Report.contact_email.is_(None))).all()
        assert {row[0] for row in s.execute(select(Report.language)).all()} == {"es", "ar", None}


def test_appeal_reply_in_the_language_of_the_form(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    r = client.post(
        "/appeal?lang=nl",
        data={"url": "http://example.test/a", "reason": "weg", "contact_email": "o@example.test"},
    )
    assert r.status_code == 200 and "Uw verzoek is ontvangen" in r.text
    client.post("/appeal", data={"url": "http://example.test/b", "reason": "gone"})
    with session_factory.begin() as s:
        appeals = {a.url: a for a in s.execute(select(Appeal)).scalars()}
        assert appeals["http://example.test/a"].language == "nl"
        assert appeals["http://example.test/b"].language is None  # no address: nothing kept
        decide_appeal(s, appeals["http://example.test/a"].id, False, "note", actor="sup")
        appeal_id = appeals["http://example.test/a"].id
    with session_factory() as s:
        msg = appeal_reply(s, appeal_id, "h@example.test")
    assert msg is not None
    assert msg["Subject"].startswith("Uw verzoek AP-")
    assert "Uw verzoek is beoordeeld en niet aanvaard." in msg.get_content()


# --- the script translators run ------------------------------------------------------------


def test_i18n_missing_script(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "i18n_missing.py"
    env = {"PYTHONPATH": str(ROOT / "src")}
    ok = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "fr: 0 of" in ok.stdout
    # A catalog with one entry emptied and one made fuzzy: both listed, exit 1.
    locale = tmp_path / "locale"
    (locale / "de" / "LC_MESSAGES").mkdir(parents=True)
    (locale / "messages.pot").write_bytes((i18n.LOCALE_DIR / "messages.pot").read_bytes())
    po = (i18n.LOCALE_DIR / "de" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    po = po.replace('msgstr "Meldung senden"', 'msgstr ""')
    po = po.replace('msgid "Make a report"', '#, fuzzy\nmsgid "Make a report"')
    (locale / "de" / "LC_MESSAGES" / "messages.po").write_text(po, encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, str(script), "--locale-dir", str(locale), "de"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1
    assert "'Send report'" in bad.stdout and "'Make a report'" in bad.stdout
    assert "de: 2 of" in bad.stdout
