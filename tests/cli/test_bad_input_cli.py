"""The real `bpfcheck` executable on a handful of damaged inputs: exit code 2, one line on
stderr naming the file, never a traceback. The files are corpus objects and test files damaged
by our own code (see _bad_input_mutators); the commands run as parallel subprocesses."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.cli import main
from _bad_input_mutators import (BTF_HEADER_FIELDS, CORPUS, ELF_HEADER_FIELDS, OPCODE_LDDW,
                                 layout)

BPFCHECK = [sys.executable, "-m", "verifier"]
ROOT = Path(__file__).resolve().parents[2]
XDP = CORPUS / "xdp_eth_drop.o"
LEGACY = CORPUS / "xdp_legacy_maps.o"
CORE = CORPUS / "kprobe_core_task.o"
OBJECT_COMMANDS = (["sections"], ["disasm"], ["cfg"], ["verify", "--no-cache"],
                   ["run", "--engine", "interp"])


def overwrite(path: Path, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(path.read_bytes())
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def section(path: Path, name: str):
    return next(s for s in layout(path).sections if s.name == name)


def code_slot(path: Path, name: str, slot: int) -> int:
    sec = section(path, name)
    return sec.offset + 8 * (slot % (sec.size // 8))


# name -> (bytes, the commands that must refuse it)
DAMAGED_OBJECTS = {
    "truncated": (XDP.read_bytes()[: XDP.stat().st_size // 2], OBJECT_COMMANDS),
    "section_header_size": (overwrite(XDP, *ELF_HEADER_FIELDS["e_shentsize"], 1),
                            OBJECT_COMMANDS),
    "lddw_cut": (overwrite(XDP, code_slot(XDP, "xdp", -1), "<B", OPCODE_LDDW), OBJECT_COMMANDS),
    "unknown_opcode": (overwrite(XDP, code_slot(XDP, "xdp", 0), "<B", 0xFF), OBJECT_COMMANDS),
    "btf_strings": (overwrite(XDP, section(XDP, ".BTF").offset + BTF_HEADER_FIELDS["str_len"][0],
                              "<I", 0xFFFFFFF0), OBJECT_COMMANDS),
    "relocation": (overwrite(LEGACY, section(LEGACY, ".relxdp").offset, "<Q", 1 << 40),
                   OBJECT_COMMANDS),
    "jump_out_of_range": (overwrite(XDP, layout(XDP).jump_slots[0] + 2, "<h", 0x7FFF),
                          (["cfg"], ["verify", "--no-cache"], ["run"], ["bench", "cfg"],
                           ["crosscheck", "--no-z3", "--samples", "2"])),
    # the array map (the first bpf_map_def) with 2^32-1 entries
    "huge_array": (overwrite(LEGACY, section(LEGACY, "maps").offset + 12, "<I", 0xFFFFFFFF),
                   (["run", "--engine", "interp"], ["crosscheck", "--no-z3", "--samples", "2"])),
}


def run_all(jobs: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Run the commands a few at a time (each pays the interpreter's start-up)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BPFCHECK_BTF": "none"}
    done = []
    for start in range(0, len(jobs), 4):
        procs = [subprocess.Popen(BPFCHECK + job, cwd=ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for job in jobs[start:start + 4]]
        for job, proc in zip(jobs[start:start + 4], procs):
            out, err = proc.communicate(timeout=120)
            done.append(subprocess.CompletedProcess(job, proc.returncode, out, err))
    return done


def assert_refused(where: str, code: int, stderr: str, names: str) -> None:
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, where + "\n" + stderr
    assert code == 2, f"{where}: exit {code}\n{stderr}"
    assert len(lines) == 1, f"{where}: {lines}"
    assert lines[0].startswith(f"bpfcheck: error: {names}"), f"{where}: {lines[0]}"


@pytest.fixture(scope="module")
def damaged_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    files = {}
    for name, (data, _commands) in DAMAGED_OBJECTS.items():
        files[name] = folder / f"{name}.o"
        files[name].write_bytes(data)
    return files


@pytest.mark.parametrize("name, command", [
    pytest.param(name, command, id=f"{name}-{command[0]}")
    for name, (_data, commands) in DAMAGED_OBJECTS.items() for command in commands])
def test_damaged_objects_on_every_command(damaged_files, capsys, monkeypatch, name, command):
    """In process (cheap): every command on every damaged object."""
    monkeypatch.setenv("BPFCHECK_BTF", "none")
    path = damaged_files[name]
    code = main([*command, str(path)])
    assert_refused(" ".join(command), code, capsys.readouterr().err, f"{path}: ")


def damaged_text_files(folder: Path) -> dict[str, Path]:
    files = {"asm": folder / "bad.s", "yaml": folder / "bad.yaml", "data": folder / "bad.data",
             "btf": folder / "vmlinux"}
    files["asm"].write_text("r0 = 0\nr11 = 1\nexit\n")
    files["yaml"].write_text("test-case: x\ncode: a: b\n")
    files["data"].write_text("-- asm\nmov %r0, 1\nbogus %r1\nexit\n-- result\n0x1\n")
    raw = CORE.read_bytes()
    sec = section(CORE, ".BTF")
    type_len = sec.offset + BTF_HEADER_FIELDS["type_len"][0]
    files["btf"].write_bytes(raw[sec.offset:type_len] + struct.pack("<I", 1 << 31)
                             + raw[type_len + 4:sec.offset + sec.size])  # types past the end
    return files


def test_the_real_executable(tmp_path, damaged_files):
    """A handful of subprocesses: each object command once, and the text inputs."""
    text = damaged_text_files(tmp_path)
    objects = [("truncated", ["sections"]), ("lddw_cut", ["disasm"]),
               ("jump_out_of_range", ["cfg"]), ("relocation", ["verify", "--no-cache"]),
               ("btf_strings", ["run", "--engine", "interp"])]
    jobs = [[*command, str(damaged_files[name])] for name, command in objects]
    names = [str(damaged_files[name]) for name, _command in objects]
    jobs += [["asm", str(text["asm"]), "-o", str(tmp_path / "out.bin")], ["cfg", str(text["asm"])],
             ["yaml", str(text["yaml"])], ["run", str(text["data"])],
             ["sections", str(CORE), "--btf", str(text["btf"])]]
    names += [str(text["asm"]), str(text["asm"]), str(text["yaml"]), str(text["data"]),
              str(CORE)]
    for result, name in zip(run_all(jobs), names):
        assert_refused(" ".join(result.args), result.returncode, result.stderr, f"{name}: ")
    assert f"target BTF {text['btf']}: " in result.stderr
