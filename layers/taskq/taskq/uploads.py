"""OpenAI's Uploads API (spec §6): a file of up to 200 MB sent in parts of up to 10 MB (API
Gateway's payload limit), joined with S3 multipart into a file of the files API. docs/design.md
"Uploads" has the rules and why; a key sees only its own uploads (admin: all)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from . import permissions
from .clock import Clock
from .config import file_retention_seconds
from .errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from .files import MAX_FILE_BYTES, PURPOSES, FileInfo, new_file_id
from .models import Principal

if TYPE_CHECKING:  # annotations only: the store imports UploadInfo from here
    from .store import DynamoStore
    from .store.files import FileObjects

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # OpenAI's limit for a batch file
MAX_PART_BYTES = MAX_FILE_BYTES  # OpenAI takes 64 MB; API Gateway's payload limit is 10 MB
UPLOAD_SECONDS = 3600  # a pending upload expires an hour after its creation, as OpenAI's
S3_MIN_PART_BYTES = 5 * 1024 * 1024  # S3 multipart: every part but the last at least 5 MiB
MAX_PARTS = 10_000  # S3 multipart's part numbers


def new_upload_id(now_ms: int) -> str:
    return f"upload_{now_ms:013d}{secrets.token_hex(8)}"


def new_part_id() -> str:
    return f"part_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class UploadInfo:
    upload_id: str
    ak: str
    bytes: int
    filename: str
    purpose: str
    mime_type: str
    created_at: int  # epoch seconds
    expires_at: int
    state: str  # pending, completed or cancelled as stored; `expired` is computed (status)
    file_id: str  # fixed at create, so a retried complete can only ever make this one file
    s3_upload_id: str

    def status(self, now_s: int) -> str:
        return "expired" if self.state == "pending" and now_s >= self.expires_at else self.state

    def to_wire(self, now_s: int, file: FileInfo | None = None) -> dict[str, Any]:
        return {
            "id": self.upload_id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status(now_s),
            "file": file.to_wire() if file else None,
        }


@dataclass(frozen=True)
class PartInfo:
    part_id: str
    number: int  # its S3 part number: the order parts arrived in
    bytes: int
    etag: str
    created_at: int

    def to_wire(self, upload_id: str) -> dict[str, Any]:
        return {"id": self.part_id, "object": "upload.part", "created_at": self.created_at, "upload_id": upload_id}


class UploadNotFound(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload {upload_id} not found")


class UploadService:
    def __init__(
        self, store: DynamoStore, objects: FileObjects, clock: Clock, min_part_bytes: int = S3_MIN_PART_BYTES
    ) -> None:
        self._store = store
        self._objects = objects
        self._clock = clock
        self._min_part_bytes = min_part_bytes  # S3's; tests lower it with moto's

    def create(self, caller: Principal, filename: str, purpose: str, size: int, mime_type: str) -> dict[str, Any]:
        permissions.require_role(caller, permissions.PRODUCERS, "uploading a file")
        if purpose not in PURPOSES:
            raise BadRequest(f"purpose: must be one of {', '.join(sorted(PURPOSES))}, not {purpose!r}")
        if not 1 <= size <= MAX_UPLOAD_BYTES:
            raise BadRequest(f"bytes: must be between 1 and {MAX_UPLOAD_BYTES} (200 MB), not {size}")
        if not filename.strip():
            raise BadRequest("filename: is empty")
        if not mime_type.strip():
            raise BadRequest("mime_type: is empty")
        now = self._clock.now_ms()
        file_id = new_file_id(now)
        # The multipart upload first: a record always names one (a crash after it leaves an
        # incomplete multipart upload, which the bucket's lifecycle aborts).
        s3_upload_id = self._objects.start_multipart(file_id, mime_type)
        created = now // 1000
        info = UploadInfo(
            new_upload_id(now), caller.ak, size, filename, purpose, mime_type, created,
            created + UPLOAD_SECONDS, "pending", file_id, s3_upload_id,
        )  # fmt: skip
        self._store.put_upload(info, created + file_retention_seconds())
        return info.to_wire(created)

    def add_part(self, caller: Principal, upload_id: str, data: bytes) -> dict[str, Any]:
        info = self._pending(self._get(caller, upload_id), "adding a part")
        if not data:
            raise BadRequest("data: is empty")
        if len(data) > MAX_PART_BYTES:
            raise PayloadTooLarge(f"data: a part is at most {MAX_PART_BYTES} bytes (10 MB, API Gateway's limit)")
        now_s = self._clock.now_ms() // 1000
        # The part's number is taken before its bytes are stored: parts join in arrival order.
        number = self._store.allocate_part(upload_id, len(data), info.bytes, now_s, MAX_PARTS)
        if number is None:
            self._pending(self._get(caller, upload_id), "adding a part")  # what changed meanwhile
            raise BadRequest(f"data: the parts would add up to more than the upload's bytes ({info.bytes})")
        etag = self._objects.put_part(info.file_id, info.s3_upload_id, number, data)
        if etag is None:
            raise _parts_gone(upload_id)
        part = PartInfo(new_part_id(), number, len(data), etag, now_s)
        self._store.put_part(upload_id, part, now_s + file_retention_seconds())
        return part.to_wire(upload_id)

    def complete(self, caller: Principal, upload_id: str, part_ids: list[str], md5: str | None) -> dict[str, Any]:
        """Joins the parts into the upload's file. Idempotent: the file id was fixed at create,
        so a retried or concurrent complete answers the same file and never makes another."""
        info = self._get(caller, upload_id)
        if info.state == "completed":
            return self._answer(info)
        info = self._pending(info, "completing")
        parts = self._ordered_parts(info, part_ids)
        total = sum(p.bytes for p in parts)
        if total != info.bytes:
            raise BadRequest(f"bytes: the parts add up to {total} bytes, the upload declared {info.bytes}")
        joined = [(p.number, p.etag) for p in parts]
        # False: an earlier complete joined them (its answer was lost), or they are gone.
        joined_now = self._objects.complete_multipart(info.file_id, info.s3_upload_id, joined)
        if not joined_now and self._objects.size(info.file_id) is None:
            raise _parts_gone(upload_id)
        if md5 is not None and self._objects.md5(info.file_id) != md5.strip().lower():
            self._store.end_upload(upload_id, "cancelled")
            self._objects.delete(info.file_id)
            raise BadRequest("md5: does not match the parts' content; the upload is cancelled")
        now_s = self._clock.now_ms() // 1000
        file = FileInfo(info.file_id, info.ak, total, info.filename, info.purpose, now_s)
        self._store.put_file(file, now_s + file_retention_seconds(), exists_ok=True)
        self._store.end_upload(upload_id, "completed")
        return self._answer(replace(info, state="completed"))

    def cancel(self, caller: Principal, upload_id: str) -> dict[str, Any]:
        info = self._get(caller, upload_id)
        if info.state == "cancelled":
            return self._answer(info)
        self._pending(info, "cancelling")
        if not self._store.end_upload(upload_id, "cancelled"):
            self._pending(self._get(caller, upload_id), "cancelling")  # completed meanwhile: 409
        # The record first: a crash before the abort leaves parts the bucket's lifecycle drops.
        self._objects.abort_multipart(info.file_id, info.s3_upload_id)
        return self._answer(replace(info, state="cancelled"))

    def _get(self, caller: Principal, upload_id: str) -> UploadInfo:
        info = self._store.get_upload(upload_id)
        if info is None or not permissions.owns(caller, info.ak):
            raise UploadNotFound(upload_id)
        return info

    def _pending(self, info: UploadInfo, action: str) -> UploadInfo:
        status = info.status(self._clock.now_ms() // 1000)
        if status == "expired":
            self._objects.abort_multipart(info.file_id, info.s3_upload_id)  # sooner than the lifecycle
        if status != "pending":
            raise Conflict(f"upload_id: {info.upload_id} is {status}; {action} needs a pending upload")
        return info

    def _ordered_parts(self, info: UploadInfo, part_ids: list[str]) -> list[PartInfo]:
        if not part_ids:
            raise BadRequest("part_ids: is empty")
        if len(set(part_ids)) != len(part_ids):
            raise BadRequest("part_ids: lists a part twice")
        stored = {p.part_id: p for p in self._store.list_parts(info.upload_id)}
        unknown = [i for i in part_ids if i not in stored]
        if unknown:
            raise BadRequest(f"part_ids: not parts of {info.upload_id}: {', '.join(unknown[:5])}")
        parts = [stored[i] for i in part_ids]
        if any(a.number > b.number for a, b in pairwise(parts)):
            raise BadRequest("part_ids: must list the parts in the order they were added (S3 multipart's order)")
        small = [p for p in parts[:-1] if p.bytes < self._min_part_bytes]
        if small:
            raise BadRequest(
                f"part_ids: every part but the last must be at least {self._min_part_bytes} bytes "
                f"(S3 multipart); {small[0].part_id} has {small[0].bytes}"
            )
        return parts

    def _answer(self, info: UploadInfo) -> dict[str, Any]:
        file = self._store.get_file(info.file_id) if info.state == "completed" else None
        return info.to_wire(self._clock.now_ms() // 1000, file)


def _parts_gone(upload_id: str) -> Conflict:
    return Conflict(
        f"upload_id: the parts of {upload_id} are gone (cancelled, or lost with a local server's restart); "
        "create a new upload"
    )
