"""OpenAI's Uploads API (spec §6): a file of up to 200 MB sent in parts of up to 10 MB (API
Gateway's payload limit), joined with S3 multipart into a file of the files API. docs/design.md
"Uploads" has the rules and why; a key sees only its own uploads (admin: all)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
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
MAX_PARTS = 2_000  # keeps the layout in one item (ids of ~30 bytes; 100 KB parts for 200 MB)
UPLOAD_SECONDS = 3600  # a pending upload expires an hour after its creation, as OpenAI's
S3_MIN_PART_BYTES = 5 * 1024 * 1024  # S3 multipart: every part but the last at least 5 MiB


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
    # The parts' layout: every part id in the order added; the S3 parts (number, ETag) made so
    # far; the parts held back (id, bytes) until 5 MiB follow; the bytes of all parts.
    order: tuple[str, ...] = ()
    s3_parts: tuple[tuple[int, str], ...] = ()
    held: tuple[tuple[str, int], ...] = ()
    received: int = 0
    version: int = 0

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


class UploadNotFound(NotFound):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload {upload_id} not found")


class UploadPartsGone(Conflict):
    def __init__(self, upload_id: str) -> None:
        super().__init__(
            f"upload_id: the parts of {upload_id} are gone (cancelled, or lost with a local server's restart); "
            "create a new upload"
        )


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
        """Appends a part. S3 wants 5 MiB in every part but the last, OpenAI's parts may be any
        size (and through API Gateway and Lambda they are smaller): a part is held back as an
        object of its own until, with the parts after it, 5 MiB are there; then they go to S3
        as one part. The layout is saved conditionally on the version read: a part racing
        another answers 409 (which the openai client retries) and leaves nothing in the file."""
        info = self._pending(self._get(caller, upload_id), "adding a part")
        if not data:
            raise BadRequest("data: is empty")
        if len(data) > MAX_PART_BYTES:
            raise PayloadTooLarge(f"data: a part is at most {MAX_PART_BYTES} bytes (10 MB, API Gateway's limit)")
        if info.received + len(data) > info.bytes:
            raise BadRequest(f"data: the parts would add up to more than the upload's bytes ({info.bytes})")
        if len(info.order) >= MAX_PARTS:
            raise BadRequest(f"data: an upload has at most {MAX_PARTS} parts")
        part_id = new_part_id()
        if sum(n for _, n in info.held) + len(data) >= self._min_part_bytes:
            after = replace(info, s3_parts=(*info.s3_parts, self._to_s3(info, data)), held=())
        else:
            self._objects.put_held_part(upload_id, part_id, data)
            after = replace(info, held=(*info.held, (part_id, len(data))))
        after = replace(after, order=(*info.order, part_id), received=info.received + len(data))
        now_s = self._clock.now_ms() // 1000
        if not self._store.save_layout(info, after, now_s):
            self._pending(self._get(caller, upload_id), "adding a part")  # what ended it, if it did
            raise _raced(upload_id)
        self._drop_held(upload_id, info.held if not after.held else ())
        return {"id": part_id, "object": "upload.part", "created_at": now_s, "upload_id": upload_id}

    def complete(self, caller: Principal, upload_id: str, part_ids: list[str], md5: str | None) -> dict[str, Any]:
        """Joins the parts into the upload's file. Idempotent: the file id was fixed at create,
        so a retried or concurrent complete answers the same file and never makes another."""
        info = self._get(caller, upload_id)
        if info.state == "completed":
            return self._answer(info)
        info = self._pending(info, "completing")
        self._check_order(info, part_ids)
        if info.received != info.bytes:
            raise BadRequest(f"bytes: the parts add up to {info.received} bytes, the upload declared {info.bytes}")
        # The object exists only once S3 joined the parts: then an earlier complete did (its
        # answer was lost, or it runs beside this one) and the file is that object.
        if self._objects.size(info.file_id) is None:
            try:
                self._join(info)
            except UploadPartsGone:
                if self._objects.size(info.file_id) is None:
                    raise
        if md5 is not None and self._objects.md5(info.file_id) != md5.strip().lower():
            self._store.end_upload(upload_id, "cancelled")
            self._objects.delete(info.file_id)
            self._drop_held(upload_id, info.held)
            raise BadRequest("md5: does not match the parts' content; the upload is cancelled")
        now_s = self._clock.now_ms() // 1000
        file = FileInfo(info.file_id, info.ak, info.received, info.filename, info.purpose, now_s)
        self._store.put_file(file, now_s + file_retention_seconds(), exists_ok=True)
        self._store.end_upload(upload_id, "completed")
        self._drop_held(upload_id, info.held)
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
        self._drop_held(upload_id, info.held)
        return self._answer(replace(info, state="cancelled"))

    def _join(self, info: UploadInfo) -> None:
        s3_parts = list(info.s3_parts)
        if info.held:  # the last S3 part, the one allowed under 5 MiB
            s3_parts.append(self._to_s3(info))
        if not self._objects.complete_multipart(info.file_id, info.s3_upload_id, s3_parts):
            raise UploadPartsGone(info.upload_id)

    def _to_s3(self, info: UploadInfo, data: bytes = b"") -> tuple[int, str]:
        """One S3 part of the held parts' bytes, then `data` (the part being added): (its number,
        its ETag). A number is never reused, so a retry cannot overwrite a part another layout
        names. A held part is deleted only once a saved layout has it in S3: one missing means
        the layout moved on meanwhile."""
        pieces = [self._objects.get_held_part(info.upload_id, i) for i, _ in info.held]
        if any(p is None for p in pieces):
            raise _raced(info.upload_id)
        body = b"".join(p for p in pieces if p is not None) + data
        number = self._store.next_part_number(info.upload_id)
        etag = self._objects.put_part(info.file_id, info.s3_upload_id, number, body)
        if etag is None:
            raise UploadPartsGone(info.upload_id)
        return number, etag

    def _drop_held(self, upload_id: str, held: tuple[tuple[str, int], ...]) -> None:
        """Held parts now in S3 are not needed (one a crash leaves, the bucket's lifecycle drops)."""
        for part_id, _ in held:
            self._objects.delete_held_part(upload_id, part_id)

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

    @staticmethod
    def _check_order(info: UploadInfo, part_ids: list[str]) -> None:
        """The parts are joined as they were added (S3 has them so): `part_ids` must be that order."""
        if list(part_ids) == list(info.order):
            return
        unknown = [i for i in part_ids if i not in set(info.order)]
        if unknown:
            raise BadRequest(f"part_ids: not parts of {info.upload_id}: {', '.join(unknown[:5])}")
        raise BadRequest(
            f"part_ids: must list every part of {info.upload_id} once, in the order they were added "
            f"({len(info.order)} parts)"
        )

    def _answer(self, info: UploadInfo) -> dict[str, Any]:
        file = self._store.get_file(info.file_id) if info.state == "completed" else None
        return info.to_wire(self._clock.now_ms() // 1000, file)


def _raced(upload_id: str) -> Conflict:
    return Conflict(f"upload_id: another part of {upload_id} was added at the same time; send this one again")
