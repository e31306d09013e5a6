"""A multipart/form-data body (RFC 7578) split into its fields, byte for byte: what
`POST /v1/files` receives from the openai client (`file` and `purpose`). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from .errors import BadRequest


@dataclass(frozen=True)
class Field:
    name: str
    filename: str | None
    content_type: str | None
    value: bytes


def _boundary(content_type: str) -> bytes:
    header = Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise BadRequest("Content-Type: must be multipart/form-data")
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise BadRequest("Content-Type: multipart/form-data needs a boundary")
    return boundary.encode("latin-1")


def parse_form(content_type: str, body: bytes) -> dict[str, Field]:
    """The fields by name (the first of a repeated name). Each part is
    `\\r\\n--boundary\\r\\n<headers>\\r\\n\\r\\n<value>`; the body ends at `--boundary--`."""
    delimiter = b"\r\n--" + _boundary(content_type)
    segments = (b"\r\n" + body).split(delimiter)
    if len(segments) < 2:
        raise BadRequest("body: no multipart/form-data part found")
    if not segments[-1].startswith(b"--"):  # a body cut short: its last delimiter is not the closing one
        raise BadRequest("body: the multipart/form-data body ends without its closing boundary")
    fields: dict[str, Field] = {}
    for segment in segments[1:-1]:  # segments[0] is the preamble, segments[-1] the closing delimiter's
        head, separator, value = segment.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"\r\n"):
            raise BadRequest("body: a multipart/form-data part has no header block")
        headers = HeaderParser().parsestr(head[2:].decode("latin-1"))
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise BadRequest("body: a multipart/form-data part has no name")
        fields.setdefault(name, Field(name, headers.get_filename(), headers.get("content-type"), value))
    return fields
