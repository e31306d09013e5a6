"""Uploads of the Batch API's files (docs/design.md "Uploads"): one Control item per upload, its
parts' layout included, every change conditional on the version the writer read. The bytes are
in S3 (`FileObjects`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .base import StoreBase
from .codec import expression_values, from_item, is_condition_failure, to_item
from .keys import upload_key

if TYPE_CHECKING:  # the uploads domain is imported by the call that builds one, not with the store
    from ..uploads import UploadInfo

_FIELDS = ("ak", "bytes", "filename", "purpose", "mime_type", "created_at", "expires_at", "state", "file_id")
_NUMBERS = frozenset({"bytes", "created_at", "expires_at"})


def _layout(info: UploadInfo) -> str:
    """The parts' layout as JSON text: lists of pairs stay one small attribute."""
    layout = {"order": info.order, "s3_parts": info.s3_parts, "held": info.held, "received": info.received}
    return json.dumps(layout, separators=(",", ":"))


class UploadRecords(StoreBase):
    def put_upload(self, info: UploadInfo, ttl: int) -> None:
        values = {f: getattr(info, f) for f in _FIELDS}
        extra = {"s3_upload_id": info.s3_upload_id, "layout": _layout(info), "version": 0, "next_part": 0, "ttl": ttl}
        self._db.put_item(
            TableName=self._tables.control,
            Item=upload_key(info.upload_id) | to_item(values | extra),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_upload(self, upload_id: str) -> UploadInfo | None:
        item = self._db.get_item(TableName=self._tables.control, Key=upload_key(upload_id), ConsistentRead=True)
        if "Item" not in item:
            return None
        values = from_item(item["Item"])
        layout = json.loads(values["layout"])
        from ..uploads import UploadInfo

        return UploadInfo(
            upload_id=upload_id,
            s3_upload_id=values["s3_upload_id"],
            order=tuple(layout["order"]),
            s3_parts=tuple((int(n), str(etag)) for n, etag in layout["s3_parts"]),
            held=tuple((str(i), int(n)) for i, n in layout["held"]),
            received=int(layout["received"]),
            version=int(values["version"]),
            **{f: int(values[f]) if f in _NUMBERS else values[f] for f in _FIELDS},
        )

    def next_part_number(self, upload_id: str) -> int:
        """A new S3 part number of the upload, never handed out twice (a write that loses the
        race for the layout leaves an S3 part no layout names, which the complete leaves out)."""
        answer = self._db.update_item(
            TableName=self._tables.control,
            Key=upload_key(upload_id),
            UpdateExpression="ADD next_part :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=expression_values(one=1),
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(answer["Attributes"])["next_part"])

    def save_layout(self, before: UploadInfo, after: UploadInfo, now_s: int) -> bool:
        """Writes `after`'s parts layout if the upload is still as `before` was read (its
        version), pending and unexpired; False otherwise."""
        try:
            self._db.update_item(
                TableName=self._tables.control,
                Key=upload_key(before.upload_id),
                UpdateExpression="SET layout = :layout, version = :next",
                ConditionExpression="version = :seen AND #state = :pending AND expires_at > :now",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=expression_values(
                    layout=_layout(after), next=before.version + 1, seen=before.version, pending="pending", now=now_s
                ),
            )
        except ClientError as e:
            if is_condition_failure(e):
                return False
            raise
        return True

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
