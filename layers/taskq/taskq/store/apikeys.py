"""API keys (Control table). Two items per key, written and deleted together in one
transaction: the lookup item keyed by the secret's hash (what the authorizer reads) and the
listing item keyed by `ak` (what admins list and revoke by). Neither holds the secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..models import Role
from .base import StoreBase
from .codec import from_item, is_transaction_cancelled, to_item
from .keys import api_key_listing_key, api_key_lookup_key

if TYPE_CHECKING:  # the keys domain is imported by the calls that need it, not with the store
    from ..keys import ApiKey


def _to_key(values: dict[str, Any], ak: str) -> ApiKey:
    from ..keys import ApiKey

    return ApiKey(ak, values["name"], Role(values["role"]), tuple(values["queues"]), int(values["created_time"]))


class ApiKeyRecords(StoreBase):
    def put_api_key(self, key: ApiKey, key_hash: str) -> None:
        attributes = {
            "name": key.name,
            "role": key.role.value,
            "queues": list(key.queues),
            "created_time": key.created_time,
        }
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._tables.control,
                        "Item": api_key_lookup_key(key_hash) | to_item(attributes | {"ak": key.ak}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self._tables.control,
                        "Item": api_key_listing_key(key.ak) | to_item(attributes | {"key_hash": key_hash}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    def get_api_key(self, key_hash: str) -> ApiKey | None:
        item = self._db.get_item(
            TableName=self._tables.control, Key=api_key_lookup_key(key_hash), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        values = from_item(item)
        return _to_key(values, values["ak"])

    def list_api_keys(self) -> list[ApiKey]:
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": api_key_listing_key("")["pk"]},
            "ProjectionExpression": "sk, #name, #role, queues, created_time",
            "ExpressionAttributeNames": {"#name": "name", "#role": "role"},
        }
        keys: list[ApiKey] = []
        while True:
            page = self._db.query(**request)
            keys += [_to_key(v, v["sk"]) for v in map(from_item, page.get("Items", []))]
            if "LastEvaluatedKey" not in page:
                return keys
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_api_key(self, ak: str) -> bool:
        """Deletes both items of the key; False when there is no such key."""
        listing = self._db.get_item(
            TableName=self._tables.control, Key=api_key_listing_key(ak), ConsistentRead=True
        ).get("Item")
        if listing is None:
            return False
        key_hash = listing["key_hash"]["S"]
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self._tables.control,
                            "Key": api_key_listing_key(ak),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self._tables.control, "Key": api_key_lookup_key(key_hash)}},
                ]
            )
        except ClientError as e:
            if is_transaction_cancelled(e):
                return False  # revoked concurrently
            raise
        return True
