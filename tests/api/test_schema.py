"""The OpenAPI schema tells the truth, validates without warnings, and OPTIONS never fails."""

import re
import uuid

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from config.api.pagination import MAX_PAGE_SIZE
from riders.roles import staff_roles_sync
from rooms.services import room_create
from tests.admin.conftest import make_staff

OPERATIONS_WITH_EXAMPLES = [
    ("/api/v1/auth/register/", "post"),
    ("/api/v1/auth/login/", "post"),
    ("/api/v1/rooms/", "post"),
    ("/api/v1/telemetry/events/", "post"),
]


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _parameters(schema: dict, path: str, method: str = "get") -> dict[str, dict]:
    operation = schema["paths"][path][method]
    return {parameter["name"]: parameter for parameter in operation.get("parameters", [])}


def test_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


@pytest.mark.parametrize(("path", "method"), OPERATIONS_WITH_EXAMPLES)
def test_main_request_bodies_have_examples(schema, path, method):
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert body["examples"], body


@pytest.mark.parametrize("path", ["/api/v1/rooms/", "/api/v1/riders/me/rooms/"])
def test_page_parameters_carry_their_bounds(schema, path):
    parameters = _parameters(schema, path)

    assert parameters["page"]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_PAGE_SIZE,
    }


def test_cursor_page_size_carries_its_bounds(schema):
    page_size = _parameters(schema, "/api/v1/telemetry/events/")["page_size"]

    assert page_size["schema"]["maximum"] == MAX_PAGE_SIZE


def test_path_identifiers_are_described(schema):
    remove = _parameters(schema, "/api/v1/rooms/{code}/participants/{rider_id}/", "delete")

    assert remove["code"]["schema"]["pattern"] == "^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}$"
    assert remove["rider_id"]["schema"] == {"type": "string", "format": "uuid"}
    assert _parameters(schema, "/api/v1/riders/{id}/")["id"]["schema"]["format"] == "uuid"


def test_participants_list_offers_no_room_filters(schema):
    # RoomFilter belongs to the room list; the participants list does not apply it.
    assert set(_parameters(schema, "/api/v1/rooms/{code}/participants/")) == {
        "code",
        "page",
        "page_size",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/register/",
        "/api/v1/auth/login/",
        "/api/v1/riders/me/password/",
        "/api/v1/rooms/",
        "/api/v1/telemetry/events/",
    ],
)
def test_options_describes_the_view_without_failing(auth_client, rider, path):
    # DRF's default OPTIONS described get_serializer(): a 500 on views that have none.
    response = auth_client(rider).options(path)

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["schema"] == "/api/schema/"
    assert "application/json" in body["parses"]
    assert "actions" not in body


def _bodyless_operations(schema: dict) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("post", "put", "patch", "delete") and "requestBody" not in operation
    ]


@pytest.mark.django_db
def test_every_operation_without_a_body_refuses_one(schema, auth_client, rider):
    # Declared body-less in the schema means enforced: a new action cannot forget it.
    operations = _bodyless_operations(schema)
    assert ("/api/v1/rooms/{code}/join/", "post") in operations

    moderator = _moderator()
    # A ride the rider leads, so that ride-scoped permissions pass and the body is what fails.
    ride = room_create(creator=rider, name="Bodies")
    for path, method in operations:
        url = re.sub(r"\{[^}]+\}", "ABCDEF", path.replace("{code}", ride.code))
        caller = moderator if path.startswith(STAFF_ONLY) else rider
        response = getattr(auth_client(caller), method)(url, {"evil": 1}, format="json")

        assert response.status_code == 400, (path, method, response.content)
        assert response.json()["error"]["fields"] == {"evil": ["Unknown field."]}, path


# Operations for staff only: the checks above are made as a moderator there.
STAFF_ONLY = "/api/v1/webhooks/"


def _moderator():
    staff_roles_sync()
    return make_staff("moderator")


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_request_body_is_closed_as_the_server_refuses_unknown_fields(schema):
    bodies = [
        (path, method, operation["requestBody"]["content"]["application/json"]["schema"])
        for path, method, operation in _operations(schema)
        if "requestBody" in operation
    ]
    assert len(bodies) >= 6
    for path, method, body in bodies:
        name = body["$ref"].rsplit("/", 1)[-1]
        component = schema["components"]["schemas"][name]
        assert component["additionalProperties"] is False, (path, method, name)


def test_every_operation_declares_the_statuses_any_request_may_get(schema):
    for path, method, operation in _operations(schema):
        for status in ("413", "429", "503"):
            assert status in operation["responses"], (path, method, status)


def test_an_empty_batch_is_refused_by_schema_and_server(schema, auth_client, rider):
    body = schema["components"]["schemas"]["EventBatchRequest"]
    assert body["properties"]["events"]["minItems"] == 1

    response = auth_client(rider).post("/api/v1/telemetry/events/", {"events": []}, format="json")

    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/rooms/", "/api/v1/riders/me/rooms/"])
def test_a_repeated_query_parameter_is_refused(auth_client, rider, path):
    response = auth_client(rider).get(f"{path}?page=1&page=2")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"page": ["Give this parameter once."]}


def _query_parameters(schema: dict):
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", ()):
            if parameter["in"] == "query":
                yield path, method, parameter


def test_no_query_parameter_may_be_empty_by_the_schema(schema):
    parameters = list(_query_parameters(schema))
    assert len(parameters) >= 15
    for path, _method, parameter in parameters:
        bounds = parameter["schema"]
        if bounds["type"] == "string":
            assert bounds["minLength"] == 1, (path, parameter["name"])


def test_every_empty_query_parameter_is_refused_by_the_server(schema, auth_client, rider):
    ride = room_create(creator=rider, name="Empty values")
    client, staff_client = auth_client(rider), auth_client(_moderator())
    parameters = [
        (path, parameter["name"])
        for path, method, parameter in _query_parameters(schema)
        if method == "get"
    ]
    assert any(name == "scope" for _path, name in parameters)
    for path, name in parameters:
        url = path.replace("{code}", ride.code).replace("{id}", str(uuid.uuid4()))

        caller = staff_client if path.startswith(STAFF_ONLY) else client
        response = caller.get(f"{url}?{name}=")

        assert response.status_code == 400, (url, name, response.content)
        assert response.json()["error"]["fields"] == {
            name: ["Give a value, or leave this parameter out."]
        }


def test_rules_the_services_apply_are_stated_in_the_schema(schema):
    components = schema["components"]["schemas"]
    capacity = components["RoomCreateRequest"]["properties"]["max_participants"]
    assert (capacity["minimum"], capacity["maximum"]) == (2, 50)
    for body in ("RegisterRequest", "PatchedProfileUpdateRequest"):
        assert components[body]["properties"]["display_name"]["maxLength"] == 64
    since = _parameters(schema, "/api/v1/telemetry/stats/")["since"]
    assert "366 days" in since["description"]


@pytest.mark.parametrize("capacity", [1, 51])
def test_a_capacity_outside_the_stated_range_is_refused(auth_client, rider, capacity):
    response = auth_client(rider).post(
        "/api/v1/rooms/", {"name": "Loop", "max_participants": capacity}, format="json"
    )

    assert response.status_code == 422


def test_a_display_name_over_the_stated_length_is_refused(auth_client, rider):
    response = auth_client(rider).patch(
        "/api/v1/riders/me/", {"display_name": "x" * 65}, format="json"
    )

    assert response.status_code == 422


def test_what_a_list_refuses_is_stated_on_its_parameters(schema):
    pages = _parameters(schema, "/api/v1/rooms/")
    assert "past the last is 400" in pages["page"]["description"]
    assert f"1 to {MAX_PAGE_SIZE}" in pages["page_size"]["description"]
    events = _parameters(schema, "/api/v1/telemetry/events/")
    assert "any other value is 400" in events["cursor"]["description"]


def test_a_forged_cursor_and_a_page_past_the_last_are_refused(auth_client, rider):
    client = auth_client(rider)

    assert client.get("/api/v1/telemetry/events/?cursor=forged").status_code == 400
    assert client.get("/api/v1/rooms/?page=999").status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/verify-email/", "/api/v1/auth/password-reset/confirm/"]
)
def test_mailed_link_operations_state_the_token_and_the_spent_link_status(schema, path):
    operation = schema["paths"][path]["post"]

    assert {"400", "410"} <= set(operation["responses"])
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    token = schema["components"]["schemas"][request.rsplit("/", 1)[1]]["properties"]["token"]
    assert token["pattern"] == "^[A-Za-z0-9_-]{43}$"


def test_a_reset_request_is_answered_202_and_states_no_account(schema):
    responses = schema["paths"]["/api/v1/auth/password-reset/"]["post"]["responses"]

    assert "202" in responses
    assert "404" not in responses
