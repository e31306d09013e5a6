"""The Batch API's files (spec §6): upload, list, retrieve, content, delete. A key sees only
its own files; an admin sees all. Another key's file answers 404, as an unknown one does."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import permissions
from .clock import Clock
from .config import file_retention_seconds
from .errors import BadRequest, NotFound, PayloadTooLarge
from .models import Principal
from .page_limits import MAX_FILES_PAGE as MAX_LIST_LIMIT

if TYPE_CHECKING:  # annotations only: the store imports FileInfo from here
    from .store import DynamoStore
    from .store.files import FileObjects

# API Gateway's payload limit (in AWS Lambda's 6 MB payload, base64, allows ~4.4 MB); larger
# files go through the Uploads API (taskq/uploads.py).
MAX_FILE_BYTES = 10 * 1024 * 1024
PURPOSES = frozenset({"batch"})


def new_file_id(now_ms: int) -> str:
    # 13 digits of epoch ms first: string order is creation order (the listing's sort key).
    return f"file-{now_ms:013d}{secrets.token_hex(8)}"


@dataclass(frozen=True)
class FileInfo:
    file_id: str
    ak: str
    bytes: int
    filename: str
    purpose: str
    created_at: int  # epoch seconds, as OpenAI's

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.file_id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileNotFound(NotFound):
    def __init__(self, file_id: str) -> None:
        super().__init__(f"file {file_id} not found")


class FileService:
    def __init__(self, store: DynamoStore, objects: FileObjects, clock: Clock) -> None:
        self._store = store
        self._objects = objects
        self._clock = clock

    def upload(self, caller: Principal, filename: str | None, purpose: str, content: bytes) -> FileInfo:
        permissions.require_role(caller, permissions.PRODUCERS, "uploading a file")
        if purpose not in PURPOSES:
            raise BadRequest(f"purpose: must be one of {', '.join(sorted(PURPOSES))}, not {purpose!r}")
        if len(content) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"file: larger than {MAX_FILE_BYTES} bytes")
        if not content:
            raise BadRequest("file: is empty")
        now = self._clock.now_ms()
        info = FileInfo(new_file_id(now), caller.ak, len(content), filename or "upload", purpose, now // 1000)
        # The object first: a record always has its content (a crash after the put leaves an
        # object no record names, which the bucket's lifecycle removes).
        self._objects.put(info.file_id, content, "application/jsonl")
        ttl = now // 1000 + file_retention_seconds()
        self._store.put_file(info, ttl)
        return info

    def get(self, caller: Principal, file_id: str) -> FileInfo:
        info = self._store.get_file(file_id)
        if info is None or not permissions.owns(caller, info.ak):
            raise FileNotFound(file_id)
        return info

    def content(self, caller: Principal, file_id: str) -> bytes:
        content = self._objects.get(self.get(caller, file_id).file_id)
        if content is None:
            raise NotFound(f"file {file_id}: its content is gone")
        return content

    def list(self, caller: Principal, after: str | None, limit: int, order: str) -> dict[str, Any]:
        """OpenAI's list object: newest first unless `order` is `asc`; `has_more` pages on."""
        if order not in ("asc", "desc"):
            raise BadRequest(f"order: must be asc or desc, not {order!r}")
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise BadRequest(f"limit: must be between 1 and {MAX_LIST_LIMIT}")
        owner = permissions.owner_filter(caller)
        files, has_more = self._store.list_files(owner, after, limit, newest_first=order == "desc")
        data = [f.to_wire() for f in files]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    def delete(self, caller: Principal, file_id: str) -> dict[str, Any]:
        info = self.get(caller, file_id)
        # The record first: once it is gone nobody can read the file; an object left by a
        # crash here is removed by the bucket's lifecycle.
        self._store.delete_file(info)
        self._objects.delete(info.file_id)
        return {"id": file_id, "object": "file", "deleted": True}
