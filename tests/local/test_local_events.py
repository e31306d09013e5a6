"""HTTP request <-> API Gateway REST proxy event and result translation (taskq_local.events)."""

from __future__ import annotations

import base64
import json

from taskq_local.events import HttpRequest, error_response, from_result, split_target, to_event


def request(target: str = "/v1/queue/put", method: str = "POST", headers=(), body: bytes = b"") -> HttpRequest:
    return HttpRequest(method=method, target=target, headers=list(headers), body=body, source_ip="10.1.2.3")


def test_path_method_and_proxy_parameter():
    event = to_event(request("/v1/queue/TASK-1/complete"))
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/v1/queue/TASK-1/complete"
    assert event["resource"] == "/{proxy+}"
    assert event["pathParameters"] == {"proxy": "v1/queue/TASK-1/complete"}
    assert event["requestContext"]["resourcePath"] == "/{proxy+}"
    assert event["requestContext"]["httpMethod"] == "POST"
    assert event["requestContext"]["path"] == "/local/v1/queue/TASK-1/complete"
    assert event["requestContext"]["identity"]["sourceIp"] == "10.1.2.3"


def test_path_stays_encoded_as_api_gateway_passes_it_but_the_proxy_parameter_is_decoded():
    event = to_event(request("/v1/queue/a%20b%2Fc"))
    assert event["path"] == "/v1/queue/a%20b%2Fc"
    assert event["pathParameters"] == {"proxy": "v1/queue/a b/c"}


def test_query_parameters_single_and_multi_value_decoded():
    event = to_event(request("/v1/x?a=1&b=two%20words&a=3&empty="))
    assert event["path"] == "/v1/x"
    assert event["queryStringParameters"] == {"a": "3", "b": "two words", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "3"], "b": ["two words"], "empty": [""]}


def test_no_query_no_headers_no_body_are_null_as_in_api_gateway():
    event = to_event(request("/health", method="GET"))
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["headers"] is None
    assert event["multiValueHeaders"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_headers_single_value_map_keeps_the_last_and_multi_value_keeps_all_in_order():
    headers = [("Host", "127.0.0.1:3000"), ("X-Tag", "a"), ("Content-Type", "application/json"), ("X-Tag", "b")]
    event = to_event(request(headers=headers))
    assert event["headers"] == {"Host": "127.0.0.1:3000", "X-Tag": "b", "Content-Type": "application/json"}
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]
    assert event["requestContext"]["domainName"] == "127.0.0.1:3000"


def test_text_body_passes_as_text():
    event = to_event(request(body='{"queue": "é"}'.encode()))
    assert event["body"] == '{"queue": "é"}'
    assert event["isBase64Encoded"] is False


def test_bytes_that_are_not_utf8_arrive_replaced_as_text_like_a_text_only_rest_api():
    event = to_event(request(body=b'{"a": "\xff"}'))
    assert event["isBase64Encoded"] is False
    assert event["body"] == '{"a": "\ufffd"}'


def test_authorizer_context_only_when_given():
    assert "authorizer" not in to_event(request())["requestContext"]
    context = {"ak": "ak-admin", "role": "admin", "queues": '["*"]'}
    assert to_event(request(), context)["requestContext"]["authorizer"] == context


def test_each_event_has_its_own_request_id():
    assert to_event(request())["requestContext"]["requestId"] != to_event(request())["requestContext"]["requestId"]


def test_split_target():
    assert split_target("/a/b?x=1") == ("/a/b", "x=1")
    assert split_target("//a?x") == ("//a", "x")  # a path, not a host
    assert split_target("http://host:1/p?q=2") == ("/p", "q=2")
    assert split_target("") == ("/", "")


def test_result_status_headers_and_body():
    response = from_result({"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"a": 1}'})
    assert response.status == 201
    assert response.headers == [("Content-Type", "application/json")]
    assert json.loads(response.body) == {"a": 1}


def test_result_multi_value_headers_repeat_and_win_over_single_value_headers():
    result = {
        "statusCode": 200,
        "headers": {"X-One": "single", "X-Other": "kept"},
        "multiValueHeaders": {"X-One": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
        "body": "",
    }
    headers = from_result(result).headers
    assert [v for k, v in headers if k == "X-One"] == ["m1", "m2"]
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("X-Other", "kept") in headers


def test_result_framing_headers_are_left_to_the_server():
    result = {"statusCode": 200, "headers": {"Content-Length": "999", "Connection": "close", "X-Ok": "1"}, "body": "hi"}
    assert from_result(result).headers == [("X-Ok", "1")]


def test_result_base64_body_is_decoded():
    result = {"statusCode": 200, "body": base64.b64encode(b"\x00\x01binary").decode(), "isBase64Encoded": True}
    assert from_result(result).body == b"\x00\x01binary"


def test_result_without_body_is_empty():
    assert from_result({"statusCode": 204}).body == b""


def test_malformed_results_are_502_with_the_error_body():
    for result in (None, "text", {"body": "no status"}, {"statusCode": "200"}, {"statusCode": 200, "body": {"a": 1}}):
        response = from_result(result)
        assert response.status == 502, result
        assert json.loads(response.body)["code"] == 502
    bad_base64 = from_result({"statusCode": 200, "body": "@@@", "isBase64Encoded": True})
    assert bad_base64.status == 502


def test_error_response_has_the_spec_body():
    response = error_response(401, "Authorization: missing", [("WWW-Authenticate", "Bearer")])
    body = json.loads(response.body)
    assert response.status == 401
    assert body["code"] == 401 and body["message"] == "Authorization: missing" and isinstance(body["timestamp"], int)
    assert ("WWW-Authenticate", "Bearer") in response.headers
