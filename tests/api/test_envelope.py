"""Every answer under /api/ and /health is the spec's envelope, whatever goes wrong and where."""

import io
import json

import pytest

from tests.api.helpers import AUTH, assert_error, assert_success

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

ECHO = "/api/test/echo"


def post_json(client, path, body, **extra):
    return client.post(path, body, content_type="application/json", **{**AUTH, **extra})


def test_success_has_data_timestamp_and_optional_message(client):
    response = post_json(client, ECHO, {"userId": "u-1"})

    data = assert_success(response)
    assert data == {"userId": "u-1"}
    assert response.json()["message"] == "操作成功"


def test_success_without_message_omits_it(client):
    response = client.get("/api/test/ping", **AUTH)

    assert assert_success(response) == {"pong": True}
    assert "message" not in response.json()


def test_error_has_code_message_and_timestamp(client):
    error = assert_error(client.get("/api/test/ping"), 401, "UNAUTHORIZED")

    assert error["message"]


def test_unknown_path_under_api_is_404_not_found(client):
    error = assert_error(client.get("/api/no/such/thing", **AUTH), 404, "NOT_FOUND")

    assert error["message"] == "資源不存在"


def test_unknown_path_under_api_is_404_without_a_key_too(client):
    assert_error(client.get("/api/no/such/thing"), 404, "NOT_FOUND")


def test_unknown_path_on_the_real_urlconf_is_404_not_found(client, settings):
    settings.ROOT_URLCONF = "ivsproject.urls"

    assert_error(client.post("/api/nope", {}, content_type="application/json", **AUTH), 404, "NOT_FOUND")


def test_put_on_a_post_route_is_405_with_allow(client):
    response = client.put(ECHO, {"userId": "u-1"}, content_type="application/json", **AUTH)

    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response["Allow"]
    assert "PUT" not in response["Allow"]


def test_options_answers_in_the_envelope(client):
    response = client.options(ECHO, **AUTH)

    data = assert_success(response)
    assert "application/json" in data["parses"]


def test_malformed_json_is_400_validation_error(client):
    error = assert_error(post_json(client, ECHO, '{"userId": '), 400, "VALIDATION_ERROR")

    assert error["message"] == "請求內容不是有效的 JSON"


@pytest.mark.parametrize("body", ['["userId"]', '"userId"', "42", "null", "true"])
def test_json_body_that_is_not_an_object_is_400_validation_error(client, body):
    error = assert_error(post_json(client, ECHO, body), 400, "VALIDATION_ERROR")

    assert error["message"] == "請求內容必須是 JSON 物件"


def test_nan_is_not_json(client):
    assert_error(post_json(client, ECHO, '{"userId": NaN}'), 400, "VALIDATION_ERROR")


def test_empty_body_on_post_is_400_missing_fields(client):
    error = assert_error(post_json(client, ECHO, ""), 400, "VALIDATION_ERROR")

    assert error["details"]["missingFields"] == ["userId"]


def test_form_data_is_400_validation_error(client):
    response = client.post(ECHO, {"userId": "u-1"}, **AUTH)  # multipart/form-data

    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "JSON" in error["message"]


def test_urlencoded_body_is_400_validation_error(client):
    response = client.post(ECHO, "userId=u-1", content_type="application/x-www-form-urlencoded", **AUTH)

    assert_error(response, 400, "VALIDATION_ERROR")


class CountedInput(io.BytesIO):
    """A request body (`wsgi.input`) that counts the reads made from it."""

    reads = 0

    def read(self, *args):
        self.reads += 1
        return super().read(*args)

    def readline(self, *args):
        self.reads += 1
        return super().readline(*args)


def test_two_megabyte_body_is_refused_from_content_length(client):
    body = json.dumps({"userId": "x" * (2 * 1024 * 1024)})
    stream = CountedInput(body.encode())

    error = assert_error(post_json(client, ECHO, body, **{"wsgi.input": stream}), 400, "VALIDATION_ERROR")

    assert error["message"] == "請求內容過大"
    assert error["details"]["contentLength"] == len(body)
    assert stream.reads == 0, "the body was read"


def test_body_just_under_the_cap_is_accepted(client, settings):
    padding = "x" * (settings.API_MAX_BODY_BYTES - 100)
    body = json.dumps({"userId": "u-1", "padding": padding})

    assert_success(post_json(client, ECHO, body))


def test_user_id_as_number_is_400_validation_error(client):
    error = assert_error(post_json(client, ECHO, {"userId": 12345}), 400, "VALIDATION_ERROR")

    assert "missingFields" not in error.get("details", {})


def test_user_id_as_boolean_is_400_validation_error(client):
    assert_error(post_json(client, ECHO, {"userId": True}), 400, "VALIDATION_ERROR")


def test_user_id_as_object_is_400_validation_error(client):
    assert_error(post_json(client, ECHO, {"userId": {"id": "u-1"}}), 400, "VALIDATION_ERROR")


def test_user_id_null_is_reported_missing(client):
    error = assert_error(post_json(client, ECHO, {"userId": None}), 400, "VALIDATION_ERROR")

    assert error["message"] == "缺少 userId"
    assert error["details"]["missingFields"] == ["userId"]


def test_user_id_of_ten_thousand_characters_is_400_validation_error(client):
    assert_error(post_json(client, ECHO, {"userId": "u" * 10_000}), 400, "VALIDATION_ERROR")


def test_user_id_with_control_characters_is_400_validation_error(client):
    assert_error(post_json(client, ECHO, {"userId": "u\n1"}), 400, "VALIDATION_ERROR")


def test_unknown_fields_are_ignored(client):
    response = post_json(client, ECHO, {"userId": "u-1", "isAdmin": True, "extra": [1, 2]})

    assert assert_success(response) == {"userId": "u-1"}


def test_one_missing_field_names_it(client):
    error = assert_error(post_json(client, ECHO, {}), 400, "VALIDATION_ERROR")

    assert error["message"] == "缺少 userId"
    assert error["details"]["missingFields"] == ["userId"]


def test_several_missing_fields_are_all_listed(client):
    error = assert_error(post_json(client, "/api/test/pair", {"stageArn": ""}), 400, "VALIDATION_ERROR")

    assert error["message"] == "缺少必要參數"
    assert sorted(error["details"]["missingFields"]) == ["serverId", "stageArn", "userId"]


def test_missing_fields_are_shown_in_production_too(client, settings):
    settings.IS_PRODUCTION = True

    error = assert_error(post_json(client, "/api/test/pair", {}), 400, "VALIDATION_ERROR")

    assert error["details"] == {"missingFields": ["userId", "stageArn", "serverId"]}


def test_validation_details_beyond_missing_fields_are_hidden_in_production(client, settings):
    settings.IS_PRODUCTION = True

    error = assert_error(post_json(client, ECHO, {"userId": 7}), 400, "VALIDATION_ERROR")

    assert "details" not in error


def test_unexpected_exception_is_500_internal_error_without_traceback(client):
    response = client.get("/api/test/boom", **AUTH)

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert error["message"] == "伺服器內部錯誤"
    assert b"Traceback" not in response.content
    assert b"urls.py" not in response.content


def test_unexpected_exception_is_logged_with_its_traceback(client, caplog):
    client.get("/api/test/boom", **AUTH)

    records = [r for r in caplog.records if r.exc_info and r.name == "ivsproject.api.exceptions"]
    assert records and "hunter2" in str(records[0].exc_info[1])


def test_unexpected_exception_in_production_has_no_details(client, settings):
    settings.IS_PRODUCTION = True
    response = client.get("/api/test/boom", **AUTH)

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "details" not in error
    assert b"hunter2" not in response.content


def test_exception_in_a_plain_django_view_is_500_internal_error(client, settings):
    settings.IS_PRODUCTION = True
    response = client.get("/api/test/plain-boom", **AUTH)

    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "details" not in error
    assert b"secret" not in response.content


def test_redis_connection_error_is_503_service_unavailable(client):
    error = assert_error(client.get("/api/test/redis-down", **AUTH), 503, "SERVICE_UNAVAILABLE")

    assert error["message"] == "服務不可用"


def test_rate_limiter_redis_down_is_503_not_500(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # the shared Redis the counters live in is down
    assert_error(client.get("/api/test/ping", **AUTH), 503, "SERVICE_UNAVAILABLE")


def test_health_is_enveloped(client):
    assert assert_success(client.get("/health"))["status"] == "healthy"
