"""Files of the Batch API: their records in the Control table and their content in S3.

Three Control items per file, written and deleted together in one transaction: the record by id
(what retrieve reads), the owner's listing item and everyone's (what list reads, newest first).
The content is one S3 object; every S3 call of the service is in `FileObjects`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .base import StoreBase
from .codec import error_code, from_item, is_transaction_cancelled, to_item
from .keys import file_key, file_listing_keys, file_object_key, files_partition

if TYPE_CHECKING:  # the files domain is imported by the calls that need it, not with the store
    from ..files import FileInfo

_ATTRIBUTES = ("ak", "bytes", "filename", "purpose", "created_at")


def _to_file(file_id: str, values: dict[str, Any]) -> FileInfo:
    from ..files import FileInfo

    return FileInfo(
        file_id=file_id,
        ak=values["ak"],
        bytes=int(values["bytes"]),
        filename=values["filename"],
        purpose=values["purpose"],
        created_at=int(values["created_at"]),
    )


class FileRecords(StoreBase):
    def put_file(self, info: FileInfo, ttl: int, *, exists_ok: bool = False) -> None:
        """The file's three items; with `exists_ok`, a file already written under this id (a
        resumed batch finalization) is left as it is."""
        try:
            self._put_file(info, ttl)
        except ClientError as e:
            if not (exists_ok and is_transaction_cancelled(e) and self.get_file(info.file_id) is not None):
                raise

    def _put_file(self, info: FileInfo, ttl: int) -> None:
        attributes = to_item(
            {
                "ak": info.ak,
                "bytes": info.bytes,
                "filename": info.filename,
                "purpose": info.purpose,
                "created_at": info.created_at,
                "ttl": ttl,
            }
        )
        keys = [file_key(info.file_id), *file_listing_keys(info.ak, info.file_id)]
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._tables.control,
                        "Item": key | attributes,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for key in keys
            ]
        )

    def get_file(self, file_id: str) -> FileInfo | None:
        item = self._db.get_item(TableName=self._tables.control, Key=file_key(file_id), ConsistentRead=True).get("Item")
        return None if item is None else _to_file(file_id, from_item(item))

    def list_files(
        self, ak: str | None, after: str | None, limit: int, newest_first: bool
    ) -> tuple[list[FileInfo], bool]:
        """One page of a key's files (`ak`), or everyone's (None), after the file id `after`;
        and whether more follow. Ids sort by creation time, so the sort key is the order."""
        partition = files_partition(ak)
        request: dict[str, Any] = {
            "TableName": self._tables.control,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": partition}),
            "ProjectionExpression": "sk, " + ", ".join(f"#{a}" for a in _ATTRIBUTES),
            "ExpressionAttributeNames": {f"#{a}": a for a in _ATTRIBUTES},
            "ScanIndexForward": not newest_first,
            "Limit": limit + 1,  # one more than asked: whether more follow
        }
        if after:
            request["ExclusiveStartKey"] = to_item({"pk": partition, "sk": after})
        files: list[FileInfo] = []
        while len(files) <= limit:
            page = self._db.query(**request)
            files += [_to_file(v["sk"], v) for v in map(from_item, page.get("Items", []))]
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return files[:limit], len(files) > limit

    def delete_file(self, info: FileInfo) -> None:
        """Deletes the record and both listing items in one transaction."""
        keys = [file_key(info.file_id), *file_listing_keys(info.ak, info.file_id)]
        self._db.transact_write_items(
            TransactItems=[{"Delete": {"TableName": self._tables.control, "Key": key}} for key in keys]
        )


class FileObjects:
    """The files' content in the stack's S3 bucket (locally the embedded store's). Objects are
    written once and never replaced; S3 encrypts them (the bucket's default encryption)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def put(self, file_id: str, content: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=file_object_key(file_id), Body=content, ContentType=content_type)

    def get(self, file_id: str) -> bytes | None:
        """The file's content; None when there is no such object."""
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=file_object_key(file_id))
        except ClientError as e:
            if error_code(e) in ("NoSuchKey", "404"):
                return None
            raise
        return answer["Body"].read()

    def delete(self, file_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=file_object_key(file_id))
