"""Table definitions read from template.yaml (spec §5: the local server creates its tables from them)."""

import textwrap

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from taskq_local.template import load_template, table_definitions


@pytest.fixture(scope="module")
def tables() -> dict:
    return table_definitions()


def keys(definition: dict) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in definition["KeySchema"]]


def attribute_types(definition: dict) -> dict[str, str]:
    return {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}


def test_the_template_has_exactly_four_tables(tables):
    assert set(tables) == {"TasksTable", "ControlTable", "ResultsTable", "EventsTable"}


def test_events_are_kept_per_task_in_sort_key_order(tables):
    assert keys(tables["EventsTable"]) == [("task_id", "HASH"), ("sk", "RANGE")]
    assert "GlobalSecondaryIndexes" not in tables["EventsTable"]  # every read is strongly consistent


def test_tasks_table_is_keyed_by_task_id(tables):
    assert keys(tables["TasksTable"]) == [("task_id", "HASH")]


def test_ready_index_is_keyed_by_ready_queue_then_start_time(tables):
    [index] = [i for i in tables["TasksTable"]["GlobalSecondaryIndexes"] if i["IndexName"] == "ReadyByQueue"]
    assert index["IndexName"] == "ReadyByQueue"
    assert keys(index) == [("ready_queue", "HASH"), ("start_time", "RANGE")]
    assert attribute_types(tables["TasksTable"]) == {
        "task_id": "S",
        "ready_queue": "S",
        "start_time": "N",
        "sweep_shard": "S",
        "sweep_at": "N",
    }


def test_sweep_index_finds_due_tasks_by_shard_then_time(tables):
    [index] = [i for i in tables["TasksTable"]["GlobalSecondaryIndexes"] if i["IndexName"] == "SweepDue"]
    assert keys(index) == [("sweep_shard", "HASH"), ("sweep_at", "RANGE")]
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"


def test_ready_index_projects_only_what_a_take_filters_on(tables):
    # INCLUDE keeps large payloads out of the index; a take filters on endpoint, expiry and visibility
    [index] = [i for i in tables["TasksTable"]["GlobalSecondaryIndexes"] if i["IndexName"] == "ReadyByQueue"]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert set(index["Projection"]["NonKeyAttributes"]) == {"endpoint", "expire_time", "visible_time"}


def test_ready_index_is_sparse(tables):
    # ready_queue is neither the table's key nor required, so only items carrying it are indexed
    assert "ready_queue" not in {name for name, _ in keys(tables["TasksTable"])}


def test_control_table_is_keyed_by_pk_and_sk(tables):
    assert keys(tables["ControlTable"]) == [("pk", "HASH"), ("sk", "RANGE")]
    assert attribute_types(tables["ControlTable"]) == {"pk": "S", "sk": "S", "due_shard": "S", "due_at": "N"}


def test_callback_due_index_finds_pending_deliveries_by_shard_then_time(tables):
    [index] = tables["ControlTable"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "CallbackDue"
    assert keys(index) == [("due_shard", "HASH"), ("due_at", "RANGE")]
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"


def test_tasks_table_streams_old_and_new_images(tables):
    # CloudFormation names only the view type; CreateTable also needs the switch
    stream = tables["TasksTable"]["StreamSpecification"]
    assert stream == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_results_table_is_keyed_by_task_id_and_lease_id(tables):
    assert keys(tables["ResultsTable"]) == [("task_id", "HASH"), ("lease_id", "RANGE")]
    assert attribute_types(tables["ResultsTable"]) == {"task_id": "S", "lease_id": "S"}


@pytest.mark.parametrize("logical_id", ["TasksTable", "ControlTable", "ResultsTable"])
def test_definitions_are_valid_create_table_arguments(tables, logical_id):
    # Checked offline against botocore's DynamoDB model: no CloudFormation-only keys slip through
    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("CreateTable").input_shape
    report = ParamValidator().validate({"TableName": "t", **tables[logical_id]}, shape)
    assert not report.has_errors(), report.generate_report()
    assert tables[logical_id]["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.parametrize("logical_id", ["TasksTable", "ControlTable", "ResultsTable"])
def test_every_defined_attribute_is_a_key(tables, logical_id):
    # DynamoDB refuses AttributeDefinitions that no key schema uses
    definition = tables[logical_id]
    used = {name for name, _ in keys(definition)}
    used |= {name for index in definition.get("GlobalSecondaryIndexes", []) for name, _ in keys(index)}
    assert set(attribute_types(definition)) == used


# --- CloudFormation short-form tags -------------------------------------------------------------

TAGGED = textwrap.dedent(
    """
    Globals:
      Function:
        Layers: [!Ref Layer]
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          Role: !GetAtt Role.Arn
          Name: !Sub "${AWS::StackName}-fn"
          Zone: !Select [0, !GetAZs ""]
      Table:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: !Join ["-", [!Ref AWS::StackName, table]]
          BillingMode: PAY_PER_REQUEST
          KeySchema:
            - {AttributeName: id, KeyType: HASH}
          AttributeDefinitions:
            - {AttributeName: id, AttributeType: S}
          Tags: !If [HasTags, {Key: k, Value: v}, !Ref AWS::NoValue]
    """
)


def test_cloudformation_tags_load_as_plain_values(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(TAGGED)
    template = load_template(path)
    assert template["Globals"]["Function"]["Layers"] == ["Layer"]
    properties = template["Resources"]["Fn"]["Properties"]
    assert properties["Role"] == "Role.Arn"
    assert properties["Name"] == "${AWS::StackName}-fn"
    assert properties["Zone"] == [0, ""]


def test_tagged_template_yields_only_table_resources_and_create_table_fields(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(TAGGED)
    assert table_definitions(path) == {
        "Table": {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        }
    }


def test_python_tags_are_still_refused(tmp_path):
    # The loader accepts CloudFormation's "!" tags, not PyYAML's "!!python/..." ones
    path = tmp_path / "template.yaml"
    path.write_text("Resources: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        load_template(path)


# --- the dispatcher's wiring ----------------------------------------------------------------------


def test_dispatcher_reads_the_tasks_stream_with_partial_batch_responses():
    resources = load_template()["Resources"]
    [event] = resources["DispatcherFunction"]["Properties"]["Events"].values()
    properties = event["Properties"]
    assert event["Type"] == "DynamoDB" and properties["Stream"] == "TasksTable.StreamArn"
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # A retried batch must start where the function left a replay marker (docs/design.md)
    assert properties["BisectBatchOnFunctionError"] is False and properties["ParallelizationFactor"] == 1
    # Counters of at most BatchSize queue-levels plus the marker fit one TransactWriteItems
    assert properties["BatchSize"] + 1 <= 100
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == "StreamFailureQueue.Arn"


def policy_statements(resource: dict) -> list[dict]:
    properties = resource["Properties"]
    documents = [p for p in properties.get("Policies", []) if isinstance(p, dict) and "Statement" in p]
    documents += [p["PolicyDocument"] for p in properties.get("Policies", []) if "PolicyDocument" in p]
    return [statement for document in documents for statement in document["Statement"]]


def test_our_policies_name_their_resources_except_x_ray():
    # X-Ray accepts no resource ARN; everything else is scoped to a table, index, stream or queue
    for logical_id, resource in load_template()["Resources"].items():
        for statement in policy_statements(resource) if "Properties" in resource else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Resource"] == "*":
                assert all(a.startswith("xray:") for a in actions), (logical_id, statement)
