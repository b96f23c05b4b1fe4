"""Every reply of the HTTP API has a declared model (aar.results.api), the OpenAPI schema names it, and the
clients read replies through those models: one definition of each wire format on both ends."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

import aar
from aar.server.app import create_app

REDIRECTS = {("post", "/dashboard/logout")}  # a browser form's answer is a redirect, not a document


def _spec() -> dict:
    return create_app(sessionmaker(bind=create_engine("sqlite://")), "0" * 64).openapi()


def test_every_route_declares_its_reply_in_the_openapi_schema() -> None:
    """JSON and JSON-lines replies name a component schema; dashboard pages are HTML; only the sign-out form's
    answer is a bare redirect. A handler that returned a bare ``dict`` has an empty schema and fails here."""
    spec = _spec()
    components = spec["components"]["schemas"]
    missing, operations = [], 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            operations += 1
            ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
            if (method, path) in REDIRECTS:
                assert list(op["responses"]) == ["303"], (method, path, op["responses"])
                continue
            schemas = [(media, content.get("schema", {})) for r in ok.values()
                       for media, content in r.get("content", {}).items()]
            good = [media for media, schema in schemas
                    if (media in ("application/json", "application/x-ndjson")
                        and schema.get("$ref", "").rsplit("/", 1)[-1] in components)
                    or (media == "text/html" and path.startswith("/dashboard"))]
            if not good:
                missing.append(f"{method.upper()} {path}: {schemas}")
    assert operations >= 50 and missing == []


def test_reply_models_describe_their_fields() -> None:
    """The schema of a reply lists its fields with types (the HTTP reference is generated from it)."""
    components = _spec()["components"]["schemas"]
    view = components["SubmissionView"]["properties"]
    assert {"id", "status", "pgr", "p_vs_vanilla", "attribution", "inherited", "error"} <= set(view)
    assert components["AttributionView"]["properties"].keys() >= {"class", "teacher_pgr", "pgr_without"}
    assert "enum" in components["SubmissionStatus"] and "verified" in components["SubmissionStatus"]["enum"]
    for name in ("ExperimentView", "ExperimentResult", "Leaderboard", "PostPage", "Thread", "Standing",
                 "QueuePage", "CampaignStatus", "UsageReply", "EvaluationLine", "SeedPredictionLine", "Fragment"):
        assert components[name]["properties"], name


def test_no_route_handler_is_annotated_to_return_a_bare_dict_or_list() -> None:
    """The route modules' handlers return models (or a page, a stream, a redirect), never ``dict``/``list``."""
    root = Path(aar.__file__).parent / "server"
    offenders = []
    for path in [*sorted((root / "api").glob("*.py")), root / "app.py", root / "dashboard" / "routes.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                    and d.func.attr in ("get", "post", "put", "patch", "delete") for d in node.decorator_list):
                returns = ast.unparse(node.returns) if node.returns else ""
                if not returns or returns.split("[")[0] in ("dict", "list", "tuple", "Any"):
                    offenders.append(f"{path.name}:{node.name} -> {returns or '(none)'}")
    assert offenders == []


def test_one_client_error_names_method_path_status_and_the_servers_reason() -> None:
    """Both clients share aar.http_client: a refusal, an unreachable server and a reply of the wrong shape are
    each one ServerError with the status (0 when nothing answered) and the server's own words."""
    from aar.campaign.admin_client import AdminClient
    from aar.http_client import ServerError
    from aar.researchers.client import AgentClient

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/me":
            return httpx.Response(429, json={"error": "submission budget of 3 is used up"})
        if request.url.path == "/v1/experiments":
            return httpx.Response(200, json={"experiments": [{"id": "not a number"}]})
        return httpx.Response(422, json={"error": "invalid request", "details": [{"loc": ["body", "name"],
                                                                                  "msg": "bad name"}]})

    agent = AgentClient("http://server.test", "aar_x")
    agent.http = httpx.Client(base_url="http://server.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ServerError) as refused:
        agent.me()
    assert refused.value.status == 429 and "GET /v1/me" in str(refused.value) and "used up" in str(refused.value)
    with pytest.raises(ServerError) as shape:
        agent.experiments()
    assert shape.value.status == 200 and "not a ExperimentList" in str(shape.value)
    admin = AdminClient("http://server.test", "admin")
    admin.http = httpx.Client(base_url="http://server.test", transport=httpx.MockTransport(handler))
    with pytest.raises(ServerError) as invalid:
        admin.create_agent("c", "Bad Name")
    assert invalid.value.status == 422 and "bad name" in str(invalid.value)
    with pytest.raises(ServerError) as down:
        AgentClient("http://127.0.0.1:9", "aar_x", timeout_s=2).me()
    assert down.value.status == 0 and "unreachable" in str(down.value)
