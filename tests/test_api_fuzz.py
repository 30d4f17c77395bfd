"""The API against its own OpenAPI description, with generated requests (schemathesis).

Every operation gets valid and invalid parameters and bodies. Each answer must be a 4xx at worst, never a 5xx.
It must also match the status codes, content types, headers and schemas the document declares.
A request the schema allows may still be refused for a business rule the schema cannot say, such as a visit
dated before 1990 or a period longer than five years, so "valid data accepted" is the one check left out.
"""
from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from tests.factories import issue_api_key, make_response  # noqa: E402
from tests.test_api import add_reviews, grant_api  # noqa: E402


# The document the API serves (test_api checks that it is served unchanged and lists every route).
schema = schemathesis.openapi.from_path(Path(__file__).parent.parent / "app" / "api" / "openapi.json")
# More visits than a request may carry is "Content Too Large" (413), a refusal schemathesis does not expect.
_rejection = schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]

# Cases are made before the test's clinic exists, so they carry this stand-in, swapped for the key when sent.
STAND_IN = "Bearer the-clinic-key"


@schema.auth()
class ClinicKey:
    """The clinic's key. Schemathesis leaves it off the cases that test a missing key."""

    def get(self, case, context):
        return STAND_IN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture
def api_token(app, tenant, monkeypatch):
    """A key with every scope, to a clinic that has answers and reviews, and a rate limit out of the way."""
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", 100_000)
    grant_api(app, tenant.id, modules=["api", "reputation"])
    for score in (10, 3):
        make_response(app, tenant.id, nps=score, comment="Очень долго ждали, но врач хороший")
    add_reviews(app, tenant.id, [5, 4, 1])
    return issue_api_key(app, tenant.id)[1]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_holds_to_its_description(case, app, api_token):
    case.operation.schema.app = app  # the session's app, which exists only once the fixtures have run
    if (case.headers or {}).get("Authorization") == STAND_IN:
        case.headers["Authorization"] = f"Bearer {api_token}"
    case.call_and_validate(app=app, excluded_checks=[positive_data_acceptance])
