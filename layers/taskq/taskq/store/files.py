"""Files of the Batch API: their records in the Control table and their content in S3.

Three Control items per file, written and deleted together in one transaction: the record by id
(what retrieve reads), the owner's listing item and everyone's (what list reads, newest first).
The content is one S3 object; every S3 call of the service is in `FileObjects`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..config import multipart_part_bytes
from .base import StoreBase
from .codec import error_code, from_item, is_transaction_cancelled, to_item
from .keys import file_key, file_listing_keys, file_object_key, files_partition, upload_part_object_key

_MISSING = ("NoSuchKey", "404", "NotFound")

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
    written once (a resumed batch finalization writes the same bytes again); S3 encrypts them
    (the bucket's default encryption). Content larger than `part_bytes` is written with S3
    multipart, part by part; a multipart upload abandoned by a crash is removed by the bucket's
    AbortIncompleteMultipartUpload rule."""

    def __init__(self, client: Any, bucket: str, part_bytes: int | None = None) -> None:
        self._s3 = client
        self._bucket = bucket
        self.part_bytes = part_bytes or multipart_part_bytes()

    def put(self, file_id: str, content: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=file_object_key(file_id), Body=content, ContentType=content_type)

    def get(self, file_id: str) -> bytes | None:
        """The file's content; None when there is no such object."""
        return self._get(file_object_key(file_id))

    def delete(self, file_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=file_object_key(file_id))

    def _get(self, key: str) -> bytes | None:
        try:
            answer = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as e:
            if error_code(e) in _MISSING:
                return None
            raise
        return answer["Body"].read()

    # --- an upload's parts held back until 5 MiB follow (docs/design.md "Uploads") ---------------

    def put_held_part(self, upload_id: str, part_id: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=upload_part_object_key(upload_id, part_id), Body=data)

    def get_held_part(self, upload_id: str, part_id: str) -> bytes | None:
        return self._get(upload_part_object_key(upload_id, part_id))

    def delete_held_part(self, upload_id: str, part_id: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=upload_part_object_key(upload_id, part_id))

    def size(self, file_id: str) -> int | None:
        """The object's size; None when there is no such object."""
        try:
            answer = self._s3.head_object(Bucket=self._bucket, Key=file_object_key(file_id))
        except ClientError as e:
            if error_code(e) in _MISSING:
                return None
            raise
        return int(answer["ContentLength"])

    def md5(self, file_id: str) -> str | None:
        """The hex MD5 of the object's content, read in parts (never whole in memory)."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=file_object_key(file_id))["Body"]
        except ClientError as e:
            if error_code(e) in _MISSING:
                return None
            raise
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
        return digest.hexdigest()

    def write(self, file_id: str, chunks: Iterable[bytes], content_type: str) -> int:
        """Writes the concatenated `chunks` as the file's content and returns its size: one
        `put` when it fits in `part_bytes`, else S3 multipart, one part of about `part_bytes`
        at a time, so at most one part is in memory. A crash midway leaves the object as it was
        (S3 shows nothing of an upload until it completes); writing again starts afresh."""
        buffer, total, upload_id, parts = bytearray(), 0, None, []
        try:
            for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                if len(buffer) >= self.part_bytes:
                    if upload_id is None:
                        upload_id = self.start_multipart(file_id, content_type)
                    parts.append((len(parts) + 1, self.put_part(file_id, upload_id, len(parts) + 1, bytes(buffer))))
                    buffer.clear()
            if upload_id is None:
                self.put(file_id, bytes(buffer), content_type)
                return total
            if buffer:
                parts.append((len(parts) + 1, self.put_part(file_id, upload_id, len(parts) + 1, bytes(buffer))))
            self.complete_multipart(file_id, upload_id, parts)
        except BaseException:
            if upload_id is not None:
                self.abort_multipart(file_id, upload_id)  # else the lifecycle rule would, a day later
            raise
        return total

    # --- S3 multipart (the Uploads API, large batch outputs) -------------------------------------

    def start_multipart(self, file_id: str, content_type: str) -> str:
        """Starts a multipart upload of the file's object; its S3 upload id."""
        answer = self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=file_object_key(file_id), ContentType=content_type
        )
        return str(answer["UploadId"])

    def put_part(self, file_id: str, upload_id: str, number: int, data: bytes) -> str | None:
        """Stores part `number` (1..10,000); its ETag, or None when the multipart upload is gone
        (completed, aborted, or lost with a local server's restart)."""
        try:
            answer = self._s3.upload_part(
                Bucket=self._bucket, Key=file_object_key(file_id), UploadId=upload_id, PartNumber=number, Body=data
            )
        except ClientError as e:
            if error_code(e) == "NoSuchUpload":
                return None
            raise
        return str(answer["ETag"])

    def complete_multipart(self, file_id: str, upload_id: str, parts: list[tuple[int, str | None]]) -> bool:
        """Joins the parts (number, ETag), in ascending numbers, into the object; False when the
        multipart upload is gone (already completed by an earlier try, or aborted)."""
        try:
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=file_object_key(file_id),
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        except ClientError as e:
            if error_code(e) == "NoSuchUpload":
                return False
            raise
        return True

    def abort_multipart(self, file_id: str, upload_id: str) -> None:
        """Drops the parts stored so far; an upload already gone is fine."""
        try:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=file_object_key(file_id), UploadId=upload_id)
        except ClientError as e:
            if error_code(e) != "NoSuchUpload":
                raise
