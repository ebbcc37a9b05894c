"""Bounds of ZIP-based files (DOCX): what the directory declares and what really unpacks."""

from __future__ import annotations

import os
import zipfile
import zlib

from automations.engine.filetypes.messages import MSG_DOCX_DAMAGED
from automations.engine.filetypes.model import DEFAULT_LIMITS, MB, FileRejected, InputLimits

# Below this a member's compression ratio is not checked: small, very regular XML parts of
# real documents compress far better than 100 to 1, and cannot hurt anyone at that size.
_RATIO_GRACE_BYTES = 1 * MB


def _docx_too_large(detail: str) -> str:
    return (
        f"This Word document is too large when unpacked ({detail}). "
        "Split it into smaller documents or export it to PDF, then upload it again."
    )


def check_zip_directory(path: str | os.PathLike[str], limits: InputLimits) -> None:
    """Refuse an archive whose directory lists more members than allowed, before zipfile
    builds an object for each one (a small file can list hundreds of thousands)."""
    with open(path, "rb") as fh:
        end = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # stable since 2.x
    if end is None:
        raise FileRejected(MSG_DOCX_DAMAGED)
    entries, directory_size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    # A directory entry of a real document is under 200 bytes; zipfile reads as many
    # entries as the directory's size holds, whatever the count says.
    if entries > limits.members or directory_size > limits.members * 1024:
        raise FileRejected(_docx_too_large(f"more than {limits.members} parts"))


def check_zip(path: str | os.PathLike[str], limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a ZIP-based file (DOCX) that unpacks beyond ``limits``, before any parser.

    First what the central directory declares (members, each member's size, the total,
    the compression ratio), then what the members really unpack to, read as a bounded
    stream (a directory can lie), counting the XML elements a parser would build: lxml
    takes about 120 bytes of memory per element, however small the element is in the file.
    """
    check_zip_directory(path, limits)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileRejected(MSG_DOCX_DAMAGED) from exc
    with zf:
        infos = zf.infolist()
        _check_zip_declared(infos, limits)
        total = 0
        elements = 0
        for info in infos:
            if info.is_dir():
                continue
            xml = info.filename.lower().endswith((".xml", ".rels"))
            size = 0
            try:
                with zf.open(info) as member:
                    while chunk := member.read(64 * 1024):
                        size += len(chunk)
                        total += len(chunk)
                        if size > limits.member_bytes or size > info.file_size:
                            raise FileRejected(
                                _docx_too_large(f"a part over {limits.member_bytes // MB} MB")
                            )
                        if total > limits.unpacked_bytes:
                            raise FileRejected(
                                _docx_too_large(f"over {limits.unpacked_bytes // MB} MB")
                            )
                        if xml:
                            elements += chunk.count(b"<") - chunk.count(b"</")
                            if elements > limits.xml_elements:
                                raise FileRejected(
                                    _docx_too_large(f"more than {limits.xml_elements:,} elements")
                                )
            except FileRejected:
                raise
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
                raise FileRejected(MSG_DOCX_DAMAGED) from exc


def _check_zip_declared(infos: list[zipfile.ZipInfo], limits: InputLimits) -> None:
    if len(infos) > limits.members:
        raise FileRejected(_docx_too_large(f"more than {limits.members} parts"))
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > limits.unpacked_bytes:
        raise FileRejected(_docx_too_large(f"over {limits.unpacked_bytes // MB} MB"))
    for info in infos:
        if info.file_size > limits.member_bytes:
            raise FileRejected(_docx_too_large(f"a part over {limits.member_bytes // MB} MB"))
        if _ratio_too_high(info.file_size, info.compress_size, limits):
            raise FileRejected(_docx_too_large(f"packed more than {limits.ratio} to 1"))
    if _ratio_too_high(total, packed, limits):
        raise FileRejected(_docx_too_large(f"packed more than {limits.ratio} to 1"))


def _ratio_too_high(unpacked: int, packed: int, limits: InputLimits) -> bool:
    return unpacked > _RATIO_GRACE_BYTES and unpacked > limits.ratio * max(packed, 1)
