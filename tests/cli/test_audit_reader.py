"""The audit's pipe reader: lines straight from the file descriptor, each as soon as it arrives."""

from __future__ import annotations

import os

from regimage.cli.audit.reader import _Descriptor
from regimage.cli.audit.source import Lines


def test_lines_come_as_they_arrive_and_are_bounded() -> None:
    read_end, write_end = os.pipe()
    try:
        reader = _Descriptor(read_end)
        os.write(write_end, b"one\ntw")
        assert reader.readline(4096) == b"one\n"  # no wait for more than the line
        os.write(write_end, b"o\r\n" + b"x" * 10 + b"\n")
        assert reader.readline(4096) == b"two\r\n"
        assert reader.readline(4) == b"xxxx"  # at most the limit
        assert reader.readline(4096) == b"xxxxxx\n"
    finally:
        os.close(write_end)
    assert reader.readline(4096) == b""
    os.close(read_end)


def test_lines_decodes_what_the_descriptor_reads() -> None:
    read_end, write_end = os.pipe()
    os.write(
        write_end, "\ufeffalpine:3.20\nbad\xe9\n".encode("utf-8").replace(b"\xc3\xa9", b"\xe9")
    )
    os.close(write_end)
    lines = Lines(_Descriptor(read_end))
    assert lines.readline() == "alpine:3.20\n"  # the BOM dropped
    assert lines.readline() == "bad\udce9\n"  # a byte that is not UTF-8 kept for its error record
    assert lines.readline() == ""
    os.close(read_end)
