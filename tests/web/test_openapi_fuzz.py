"""Schemathesis over the OpenAPI document: no 500 and every answer matches the document.

A bounded, deterministic run (derandomized Hypothesis, a few hundred cases over every
operation, valid and invalid inputs) so it belongs in `make test`; the hardening probe ran
~125,000 cases once. Requests go to the app in process (ASGI), never over a network.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from openhotline.accounts.deps import COOKIE_NAME
from openhotline.app import create_app
from openhotline.config import Settings
from tests.conftest import PARTNER_KEY
from tests.console_fixtures import Staff, login

# Examples per operation, for each identity below.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}
# No server error, and the status, content type, headers and body each as documented.
# (Whether a schema-valid body is accepted is not checked: a URL's rules are richer than
# the document can say, so "" is a valid string and a refused URL.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _runner(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    counter: list[int],
) -> Callable[[], None]:
    """A derandomized Hypothesis test of one operation, in one mode, as one identity."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        counter[0] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run  # type: ignore[no-any-return]


def _staff_headers(client: TestClient, user: Staff) -> dict[str, str]:
    csrf = login(client, user)
    return {"Cookie": f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}", "X-CSRF-Token": csrf}


def test_no_server_error_and_answers_match_the_document(
    console_settings: Settings, make_user: Callable[..., Staff]
) -> None:
    app = create_app(console_settings)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    partner = {"Authorization": f"Bearer {PARTNER_KEY}"}
    # A partner key with a supervisor's session, an administrator, a counsellor: between
    # them every operation is reached past its permission check.
    with TestClient(app) as a, TestClient(app) as b, TestClient(app) as c:
        identities = [
            partner | _staff_headers(a, make_user("fuzz-sup", "supervisor")),
            _staff_headers(b, make_user("fuzz-admin", "admin")),
            _staff_headers(c, make_user("fuzz-counsellor", "counsellor")),
        ]
        failures: list[str] = []
        counter = [0]
        for result in schema.get_all_operations():
            operation = result.ok()
            for (mode, examples), headers in itertools.product(EXAMPLES.items(), identities):
                run = _runner(operation, mode, examples, headers, counter)
                try:
                    run()
                except Unsatisfiable:
                    # No invalid input exists for an operation without constraints (no body,
                    # free strings): nothing to generate in negative mode.
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except Exception as exc:
                    failures.append(f"{operation.label} ({mode.value}): {str(exc)[:2000]}")
    print(f"{counter[0]} generated requests")
    assert counter[0] >= 200
    assert not failures, "\n\n".join(failures)
