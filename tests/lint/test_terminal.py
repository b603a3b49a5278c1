"""The progress bar and colours appear on a terminal only: never in logs or JSON."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

from lint_helpers import BUILD, ROOT

OBJS = [str(BUILD / "xdp_eth_drop.o"), str(BUILD / "bad_xdp_off_by_one.o")]


def _env():
    env = dict(os.environ)
    env.pop("CI", None)
    env.pop("NO_COLOR", None)
    return env


class _Reader(threading.Thread):
    """Drains the terminal while the process runs (its output is lost once it exits)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = b""
        self.start()

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk

    def result(self) -> bytes:
        self.join(30)
        os.close(self.fd)
        return self.data


def test_progress_bar_on_a_terminal_and_clean_json_on_a_pipe():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "verifier", "verify", *OBJS, "--no-cache",
                          "--format", "json", "--jobs", "1"], cwd=ROOT, env=_env(),
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    reader = _Reader(master)
    out, _ = p.communicate(timeout=120)
    err = reader.result()
    assert p.returncode == 1
    doc = json.loads(out)                       # stdout is pure JSON
    assert len(doc["results"]) == 2
    assert b"prog" in err and b"|" in err       # the tqdm bar went to the terminal
    # without a terminal (a log): no bar at all
    log = subprocess.run([sys.executable, "-m", "verifier", "verify", *OBJS, "--no-cache"],
                         cwd=ROOT, env=_env(), capture_output=True, timeout=120)
    assert log.stderr == b"" and b"\x1b[" not in log.stdout


def test_progress_bar_on_a_terminal_of_unknown_size():
    master, slave = pty.openpty()   # 0 x 0, as under `script` or some CI runners
    p = subprocess.Popen([sys.executable, "-m", "verifier", "verify", *OBJS, "--no-cache",
                          "--format", "json", "--jobs", "1"], cwd=ROOT, env=_env(),
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    reader = _Reader(master)
    out, _ = p.communicate(timeout=120)
    assert b"prog" in reader.result() and len(json.loads(out)["results"]) == 2


def test_text_is_coloured_on_a_terminal():
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "verifier", "verify", *OBJS, "--no-cache",
                          "--no-progress"], cwd=ROOT, env=_env(), stdout=slave,
                         stderr=subprocess.PIPE)
    os.close(slave)
    reader = _Reader(master)
    p.wait(timeout=120)
    out = reader.result()
    assert b"\x1b[32m" in out and b"\x1b[31m" in out and b"PASS" in out and b"FAIL" in out
