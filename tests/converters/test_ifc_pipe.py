"""The geometry worker's pipe, read ahead on a thread (converters.ifc_pipe)."""

from __future__ import annotations

import os
import threading

import pytest

from converters.ifc_pipe import ReadAhead


def _writer(fd: int, chunks: list[bytes], done: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            for c in chunks:
                os.write(fd, c)
        except BrokenPipeError:  # the reader closed first
            pass
        finally:
            os.close(fd)
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_reads_come_back_as_written_across_blocks_and_end_short():
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    r, w = os.pipe()
    done = threading.Event()
    writer = _writer(w, [data[i:i + 7777] for i in range(0, len(data), 7777)], done)
    got = []
    with ReadAhead(r, ahead=1 << 16, block=1 << 12) as pipe:
        for n in (1, 3, 4096, 5000, 100_000, 1):  # inside a block, across many
            got.append(pipe.read(n))
        got.append(pipe.read(len(data)))  # past the end: what is left
        assert pipe.read(1) == b""  # the end stays the end
    writer.join()
    assert [len(g) for g in got[:6]] == [1, 3, 4096, 5000, 100_000, 1]
    assert b"".join(got) == data


def test_the_worker_writes_on_while_the_import_reads_nothing():
    """A plain pipe stops its writer at 64 KiB until someone reads; read
    ahead, the writer finishes its 4 MiB with nothing read yet."""
    r, w = os.pipe()
    done = threading.Event()
    _writer(w, [b"x" * (1 << 20)] * 4, done)
    with ReadAhead(r) as pipe:
        assert done.wait(10), "the writer was held up: the pipe is not read ahead"
        assert len(pipe.read(4 << 20)) == 4 << 20


def test_closing_with_the_bound_reached_stops_the_thread_and_the_writer():
    r, w = os.pipe()
    done = threading.Event()
    writer = _writer(w, [b"y" * (1 << 16)] * 400, done)  # 25 MiB, far past the bound
    pipe = ReadAhead(r, ahead=1 << 17, block=1 << 16)
    assert pipe.read(10) == b"y" * 10
    pipe.close()  # the reading thread is stopped and the pipe closed: the writer's
    writer.join(10)  # next write fails (a killed worker's would not come)
    assert done.is_set() and not writer.is_alive()


def test_a_read_error_reaches_the_reader():
    r, w = os.pipe()
    os.close(w)
    pipe = ReadAhead(r)
    pipe._thread.join()
    assert pipe.read(1) == b""  # the end
    bad = ReadAhead(os.open(os.devnull, os.O_WRONLY))  # not readable: EBADF
    with pytest.raises(OSError):
        bad.read(1)
    bad.close()


def test_closing_while_another_process_keeps_the_pipe_open_returns():
    """A worker that outlives its forker (killed from outside) keeps the
    pipe's other end open: closing stops the reading thread all the same."""
    r, w = os.pipe()
    pipe = ReadAhead(r)
    try:
        os.write(w, b"abc")
        assert pipe.read(3) == b"abc"
        closing = threading.Thread(target=pipe.close, daemon=True)
        closing.start()
        closing.join(5)
        assert not closing.is_alive(), "close() waited for the other end"
        assert not pipe._thread.is_alive()
    finally:
        os.close(w)


def test_what_is_read_ahead_is_bounded_in_bytes():
    """A kernel faster than the import waits once ``ahead`` bytes wait to be
    read (the import's memory stays bounded), and goes on as they are."""
    r, w = os.pipe()
    done = threading.Event()
    _writer(w, [b"z" * 4096] * 512, done)  # 2 MiB in small writes
    with ReadAhead(r, ahead=1 << 18, block=1 << 16) as pipe:
        assert not done.wait(0.5), "the writer got 2 MiB ahead of the reader"
        assert pipe._queued <= (1 << 18) + (1 << 16)
        assert pipe.read(2 << 20) == b"z" * (2 << 20)
        assert done.wait(10)


def test_any_failure_of_the_reading_thread_reaches_the_reader(monkeypatch):
    import converters.ifc_pipe as ifc_pipe

    class Failing:
        def __getattr__(self, name):
            return getattr(os, name)

        def read(self, fd, n):
            raise RuntimeError("not an OSError")

    r, w = os.pipe()
    try:
        os.write(w, b"abc")
        monkeypatch.setattr(ifc_pipe, "os", Failing())
        pipe = ReadAhead(r)
        raised: list[BaseException] = []

        def read() -> None:
            try:
                pipe.read(1)
            except BaseException as exc:
                raised.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "the reader waits for a thread that died"
        assert [type(e) for e in raised] == [RuntimeError] and "not an OSError" in str(raised[0])
        pipe.close()
    finally:
        os.close(w)
