"""Table definitions read from template.yaml, the single source of truth for tests and the
local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

# The CreateTable parameters that a CloudFormation AWS::DynamoDB::Table shares with the API.
_TABLE_FIELDS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, ...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_CfnLoader.add_multi_constructor("!", _any_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as f:
        return yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def _create_table_arguments(properties: dict[str, Any]) -> dict[str, Any]:
    arguments = {k: v for k, v in properties.items() if k in _TABLE_FIELDS}
    if "StreamSpecification" in arguments:
        # CloudFormation enables a stream by naming its view type; the API also wants the switch.
        arguments["StreamSpecification"] = {"StreamEnabled": True, **arguments["StreamSpecification"]}
    return arguments


def table_definitions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """CreateTable keyword arguments for each AWS::DynamoDB::Table, by logical id."""
    resources = load_template(path)["Resources"]
    return {
        logical_id: _create_table_arguments(resource["Properties"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def create_tables(client: Any, names: dict[str, str], path: Path = TEMPLATE, *, streams: bool = True) -> None:
    """Creates every table of the template, `names` mapping logical id to table name. Without
    `streams`, for suites that read no stream: moto keeps every stream record and copies them all
    on each TransactWriteItems, which slows a long run down more and more."""
    for logical_id, definition in table_definitions(path).items():
        if not streams:
            definition.pop("StreamSpecification", None)
        client.create_table(TableName=names[logical_id], **definition)
    for name in names.values():
        client.get_waiter("table_exists").wait(TableName=name)
