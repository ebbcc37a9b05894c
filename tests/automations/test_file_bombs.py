"""Compressed and nested input is refused before it is parsed, with bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from automations.engine.extract import ExtractionError, iter_pages, parse_email
from automations.engine.filetypes import (
    DEFAULT_LIMITS,
    KINDS,
    FileRejected,
    InputLimits,
    inspect_file,
)
from pyq_site import uploads
from pyq_site.management.commands.pyq_run import memory_limit_for
from tests import bombs, files

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

# Inspect a file in a fresh process, as the web server does on upload, and report how far
# the process's peak resident memory grew while it did (imports are done before).
INSPECT = """
import resource, sys
import django
django.setup()
import docx, pypdfium2  # noqa: F401  (loaded before the measurement, as in a warm server)
from pyq_site import uploads
from automations.engine.filetypes import FileRejected, inspect_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    inspect_file(sys.argv[1], max_pages=500, limits=uploads.input_limits())
    print("ACCEPTED")
except FileRejected as exc:
    print("REFUSED", exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("GROWTH_KB", after - before)
"""


def inspect_in_subprocess(path: Path, data_dir: Path) -> tuple[str, int]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pyq_site.settings",
        "PYQ_DATA_DIR": str(data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-c", INSPECT, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    return lines[0], int(lines[-1].split()[1])


@pytest.mark.parametrize(
    ("name", "build", "message"),
    [
        (
            "bomb.docx",
            lambda: bombs.docx_bomb(100),
            "This Word document is too large when unpacked (over 50 MB).",
        ),
        (
            "200-attachments.eml",
            lambda: bombs.mail_many_attachments(200),
            "This e-mail has more than 50 attachments",
        ),
        (
            "30-levels.eml",
            lambda: bombs.mail_nested(30),
            "forwarded inside each other more than 3 levels deep",
        ),
        ("bomb.pdf", lambda: bombs.pdf_bomb(200), "This PDF is too large when unpacked"),
    ],
    ids=["docx-100MB-of-elements", "mail-200-attachments", "mail-30-levels", "pdf-200MB-stream"],
)
def test_bombs_are_refused_while_memory_stays_bounded(tmp_path, name, build, message):
    path = tmp_path / name
    path.write_bytes(build())
    assert path.stat().st_size < 1 * MB  # small uploads, far below the 25 MB limit

    outcome, growth_kb = inspect_in_subprocess(path, tmp_path / "data")

    assert outcome.startswith("REFUSED ")
    assert message in outcome
    assert growth_kb < 200 * 1024  # before: 1.75 GB for the DOCX, 1 GB for 1 GB of PDF


def test_docx_limits_are_checked_on_the_directory_and_on_what_really_unpacks(tmp_path):
    cases = {
        "parts.docx": (bombs.docx_many_parts(1001), "(more than 1000 parts)"),
        "ratio.docx": (bombs.docx_packed_part(20), "(packed more than 100 to 1)"),
        "total.docx": (bombs.docx_bomb(60), "(over 50 MB)"),
        "lying.docx": (bombs.docx_lying_directory(), "This Word document is damaged"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(FileRejected) as refused:
            inspect_file(path)
        assert message in str(refused.value), name


def test_a_docx_with_more_xml_elements_than_allowed_is_refused(tmp_path):
    path = tmp_path / "long.docx"
    path.write_bytes(bombs.docx_paragraphs(2000))  # about 6000 elements, 40 KB packed
    assert inspect_file(path).kind.kind == "docx"
    with pytest.raises(FileRejected) as refused:
        inspect_file(path, limits=InputLimits(xml_elements=5000))
    assert str(refused.value) == (
        "This Word document is too large when unpacked (more than 5,000 elements). "
        "Split it into smaller documents or export it to PDF, then upload it again."
    )


def test_the_worker_checks_the_bounds_again_before_python_docx_reads(tmp_path):
    path = tmp_path / "bomb.docx"
    path.write_bytes(bombs.docx_bomb(60))
    with pytest.raises(ExtractionError, match=r"too large when unpacked \(over 50 MB\)"):
        list(iter_pages(path, KINDS["docx"], ocr=None))


def test_the_worker_checks_mail_bounds_before_taking_attachments(tmp_path):
    path = tmp_path / "mail.eml"
    path.write_bytes(bombs.mail_nested(4))
    with pytest.raises(ExtractionError, match="more than 3 levels deep"):
        parse_email(path)
    assert len(parse_email(path, InputLimits(mail_depth=4)).attachments) == 1
    path.write_bytes(bombs.mail_many_attachments(51))
    with pytest.raises(ExtractionError, match="more than 50 attachments"):
        parse_email(path)


def test_forwarded_messages_and_their_attachments_count_toward_the_mail_limits(tmp_path):
    path = tmp_path / "mail.eml"
    path.write_bytes(bombs.mail_nested(3, attachment=b"x" * 300_000))
    # Three forwarded messages and the innermost file: 4 documents, each stored.
    assert inspect_file(path, limits=InputLimits(mail_attachments=4)).kind.kind == "eml"
    with pytest.raises(FileRejected, match="more than 3 attachments"):
        inspect_file(path, limits=InputLimits(mail_attachments=3))
    # Each level holds the ones inside it again: about 4 x 300 KB in all.
    with pytest.raises(FileRejected, match="add up to more than 1 MB when unpacked"):
        inspect_file(path, limits=InputLimits(mail_bytes=1 * MB))


def test_image_pixel_limit_is_set_explicitly_and_from_the_settings(tmp_path, settings):
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_LIMITS.image_pixels == 89_478_485
    path = tmp_path / "receipt.png"
    path.write_bytes(files.text_image(["TOTAL 12.50"]))
    settings.PYQ_MAX_IMAGE_PIXELS = 100_000
    limits = uploads.input_limits()
    with pytest.raises(FileRejected, match="This image is too large to process"):
        inspect_file(path, limits=limits)
    with pytest.raises(ExtractionError, match="This image is too large to process"):
        list(iter_pages(path, KINDS["png"], ocr=None, limits=limits))
    assert Image.MAX_IMAGE_PIXELS == 100_000
    inspect_file(path)  # the default limit again
    assert Image.MAX_IMAGE_PIXELS == 89_478_485


def test_settings_build_the_limits(settings):
    settings.PYQ_MAX_UPLOAD_MB = 25
    assert uploads.input_limits() == InputLimits()
    settings.PYQ_MAX_UNPACKED_MB, settings.PYQ_MAX_MAIL_DEPTH = 10, 1
    limits = uploads.input_limits()
    assert (limits.unpacked_bytes, limits.mail_depth) == (10 * MB, 1)


def test_workers_are_replaced_past_their_memory_limit():
    from django.conf import settings

    from pyq_site.celery import app

    assert settings.PYQ_WORKER_MAX_MEMORY_MB == 2048
    assert app.conf.worker_max_memory_per_child == 2048 * 1024  # KiB, Celery's unit


def _run_python(code: str, tmp_path: Path, **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "pyq_site.settings",
            "PYQ_DATA_DIR": str(tmp_path / "data"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.split()


def test_the_web_server_gets_a_hard_memory_limit_that_it_honours(tmp_path):
    code = (
        "import resource\n"
        "import pyq_site.wsgi\n"
        "print(resource.getrlimit(resource.RLIMIT_DATA)[0] // (1024 * 1024))\n"
        "try:\n"
        "    block = bytearray(600 * 1024 * 1024)\n"
        "    print('allocated')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
    )
    assert _run_python(code, tmp_path, PYQ_WEB_MAX_MEMORY_MB="400") == ["400", "MemoryError"]
    assert _run_python(code, tmp_path, PYQ_WEB_MAX_MEMORY_MB="0")[1] == "allocated"


def test_pyq_run_caps_the_web_server_it_starts(settings):
    settings.PYQ_WEB_MAX_MEMORY_MB = 1536
    assert memory_limit_for("worker") is None
    assert memory_limit_for("beat") is None
    apply = memory_limit_for("web")
    assert apply.args == (1536,)
    settings.PYQ_WEB_MAX_MEMORY_MB = 0
    assert memory_limit_for("web") is None
