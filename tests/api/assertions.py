"""What every API error must look like, asserted in one place."""


def assert_error_shape(body: object) -> dict:
    """The one error shape: {"error": {"code": str, "message": str, "fields"?: dict, ...}}."""
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str), body
    assert error["code"], body
    assert isinstance(error.get("message"), str), body
    assert error["message"], body
    if "fields" in error:
        assert isinstance(error["fields"], dict), body
        assert error["fields"], body
    return error


def api_error(response, status: int, code: str) -> dict:
    """Assert the status and error code of a response; return its error object."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = assert_error_shape(response.json())
    assert error["code"] == code, error
    return error
