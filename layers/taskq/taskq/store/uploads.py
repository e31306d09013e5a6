"""Uploads of the Batch API's files (docs/design.md "Uploads"): an upload's record and its parts,
in one partition of the Control table. The bytes are in S3 (`FileObjects`' multipart calls)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..uploads import PartInfo, UploadInfo
from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, to_item
from .keys import PART_PREFIX, upload_key, upload_part_key

_FIELDS = ("ak", "bytes", "filename", "purpose", "mime_type", "created_at", "expires_at", "state", "file_id")


class UploadRecords(StoreBase):
    def put_upload(self, info: UploadInfo, ttl: int) -> None:
        values = {f: getattr(info, f) for f in _FIELDS}
        item = upload_key(info.upload_id) | to_item(
            values | {"s3_upload_id": info.s3_upload_id, "next_part": 0, "received": 0, "ttl": ttl}
        )
        self._db.put_item(TableName=self._tables.control, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_upload(self, upload_id: str) -> UploadInfo | None:
        item = self._db.get_item(TableName=self._tables.control, Key=upload_key(upload_id), ConsistentRead=True)
        if "Item" not in item:
            return None
        values = from_item(item["Item"])
        return UploadInfo(
            upload_id=upload_id,
            s3_upload_id=values["s3_upload_id"],
            **{f: int(values[f]) if f in ("bytes", "created_at", "expires_at") else values[f] for f in _FIELDS},
        )

    def allocate_part(self, upload_id: str, size: int, declared: int, now_s: int, max_parts: int) -> int | None:
        """The next part number of a pending, unexpired upload, if `size` more bytes still fit in
        what it declared and a part number is left; None otherwise. Bytes are counted once a
        part is stored (`put_part`): a part lost midway never blocks the retry of it."""
        try:
            answer = self._db.update_item(
                TableName=self._tables.control,
                Key=upload_key(upload_id),
                UpdateExpression="ADD next_part :one",
                ConditionExpression=(
                    "#state = :pending AND expires_at > :now AND next_part < :max AND received <= :room"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=expression_values(
                    one=1, pending="pending", now=now_s, max=max_parts, room=declared - size
                ),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as e:
            if is_condition_failure(e):
                return None
            raise
        return int(from_item(answer["Attributes"])["next_part"])

    def put_part(self, upload_id: str, part: PartInfo, ttl: int) -> None:
        """The part's item and the upload's received bytes, together."""
        item = upload_part_key(upload_id, part.part_id) | to_item(
            {"number": part.number, "bytes": part.bytes, "etag": part.etag, "created_at": part.created_at, "ttl": ttl}
        )
        self._db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self._tables.control, "Item": item}},
                {
                    "Update": {
                        "TableName": self._tables.control,
                        "Key": upload_key(upload_id),
                        "UpdateExpression": "ADD received :size",
                        "ExpressionAttributeValues": expression_values(size=part.bytes),
                    }
                },
            ]
        )

    def list_parts(self, upload_id: str) -> list[PartInfo]:
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": expression_values(pk=upload_key(upload_id)["pk"]["S"], prefix=PART_PREFIX),
            "ConsistentRead": True,
        }
        parts: list[PartInfo] = []
        while True:
            page = self._db.query(**request)
            for values in map(from_item, page.get("Items", [])):
                parts.append(
                    PartInfo(
                        part_id=values["sk"].removeprefix(PART_PREFIX),
                        number=int(values["number"]),
                        bytes=int(values["bytes"]),
                        etag=values["etag"],
                        created_at=int(values["created_at"]),
                    )
                )
            if "LastEvaluatedKey" not in page:
                return parts
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def end_upload(self, upload_id: str, state: str) -> bool:
        """pending → `state` (completed or cancelled); also True when it is already `state`
        (a retried complete); False when it ended otherwise."""
        try:
            self._db.update_item(
                TableName=self._tables.control,
                Key=upload_key(upload_id),
                UpdateExpression="SET #state = :final",
                ConditionExpression="#state IN (:pending, :final)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=expression_values(pending="pending", final=state),
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True
