"""The functions behind the routes, loaded as the template declares them: a Lambda handler, an
ASGI app (`TASKQ_ASGI_APP`, its CodeUri on the path), or, when the code cannot be loaded, a
502 that says why on that function's routes only."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from taskq_local.asgi import AsgiFunction
from taskq_local.events import HttpRequest
from taskq_local.functions import LambdaFunction, UnavailableFunction, load_functions
from taskq_local.routes import RouteMatch, RouteTable

HERE = Path(__file__).resolve().parent


def function(code_uri: str, **properties) -> dict:
    route = {"Type": "Api", "Properties": {"Path": f"/{code_uri.replace('/', '-')}", "Method": "GET"}}
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {"CodeUri": code_uri, "Events": {"R": route}, **properties},
    }


def write(tmp_path: Path, resources: dict) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump({"Resources": resources}))
    return path


def test_the_real_template_serves_its_routes_with_lambda_handlers():
    functions = load_functions()
    assert {r.function for r in RouteTable.from_template().routes} == set(functions)
    assert isinstance(functions["ApiFunction"], LambdaFunction)


def test_an_asgi_app_named_by_the_environment_is_loaded_from_its_code_uri(tmp_path: Path):
    asgi = {"Variables": {"TASKQ_ASGI_APP": "online_stand_in:app"}}
    template = write(tmp_path, {"Online": function(str(HERE), Handler="run.sh", Environment=asgi)})
    assert isinstance(load_functions(template)["Online"], AsgiFunction)


def test_a_function_whose_code_cannot_be_loaded_answers_502_saying_why(tmp_path: Path):
    asgi = {"Variables": {"TASKQ_ASGI_APP": "no_such_module:app"}}
    resources = {
        "Missing": function("nowhere", Handler="run.sh", Environment=asgi),
        "Api": function("functions/api", Handler="taskq_api.app.lambda_handler"),
    }
    functions = load_functions(write(tmp_path, resources))
    assert isinstance(functions["Api"], LambdaFunction)
    missing = functions["Missing"]
    assert isinstance(missing, UnavailableFunction)
    match = RouteTable.from_template(write(tmp_path, resources)).match("GET", "/nowhere")
    assert isinstance(match, RouteMatch)
    answer = missing.invoke(HttpRequest("GET", "/nowhere"), match, None)
    assert answer.status == 502 and "no_such_module" in json.loads(answer.body)["message"]
