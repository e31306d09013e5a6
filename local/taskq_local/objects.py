"""The embedded store's S3 objects (the Batch API's files) made durable, like its tables: what
the local server acknowledged survives `kill -9` and a restart.

S3 objects are whole values written once, so they are not journaled: each object moto stores is
written to `TASKQ_DATA_DIR/s3/<bucket>/<quoted key>` (temporary file, fsync, rename, fsync the
folder) and each one moto deletes is unlinked, inside moto's call and so under STORE_LOCK,
before the answer leaves. Start-up puts every stored object back. moto's backend methods are
wrapped (not its HTTP hook) because every way of storing an object — `PutObject`, a completed
multipart upload, a copy — ends in `put_object`, and every delete in `delete_object`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from .embedded import STORE_LOCK
from .journal import fsync_folder

FOLDER = "s3"


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]


class DurableObjects:
    """Owns `<data folder>/s3` for the life of the process (the data folder's lock covers it)."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / FOLDER
        self.restored = 0

    def open(self) -> None:
        """Puts the stored objects back into moto (whose buckets exist), then keeps every later
        put and delete on disk."""
        backend = _backend()
        with STORE_LOCK:
            for bucket in sorted(p for p in self.root.glob("*") if p.is_dir()):
                if bucket.name not in backend.buckets:
                    backend.create_bucket(bucket.name, os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
                for path in sorted(bucket.iterdir()):
                    if path.name.startswith("."):  # a temporary file a kill left behind
                        path.unlink()
                        continue
                    backend.put_object(bucket.name, unquote(path.name), path.read_bytes())
                    self.restored += 1
            self._wrap(backend)

    def _path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / quote(key, safe="")

    def _wrap(self, backend: Any) -> None:
        put, delete = backend.put_object, backend.delete_object

        def put_object(bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
            stored = put(bucket_name, key_name, value, *args, **kwargs)
            self._write(self._path(bucket_name, key_name), bytes(value))
            return stored

        def delete_object(bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
            answer = delete(bucket_name, key_name, *args, **kwargs)
            self._remove(self._path(bucket_name, key_name))
            return answer

        backend.put_object = put_object
        backend.delete_object = delete_object
        backend.upload_part = self._no_such_upload_checked(backend)

    @staticmethod
    def _no_such_upload_checked(backend: Any) -> Any:
        """moto's `upload_part` to a multipart upload it does not hold raises KeyError (a 500);
        S3 answers NoSuchUpload, which the service expects when an upload's parts are gone
        (here: a restart, since multipart uploads in flight live in moto's memory only)."""
        from moto.s3.exceptions import NoSuchUpload

        upload_part = backend.upload_part

        def checked(bucket_name: str, multipart_id: str, *args: Any, **kwargs: Any) -> Any:
            if multipart_id not in backend.get_bucket(bucket_name).multiparts:
                raise NoSuchUpload(upload_id=multipart_id)
            return upload_part(bucket_name, multipart_id, *args, **kwargs)

        return checked

    @staticmethod
    def _write(path: Path, value: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as f:
            f.write(value)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)

    @staticmethod
    def _remove(path: Path) -> None:
        if path.exists():
            path.unlink()
            fsync_folder(path.parent)
