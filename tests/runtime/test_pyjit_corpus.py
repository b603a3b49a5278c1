"""The numba dialect of the portable JIT on the corpus: every runnable program small enough
for the auto dialect to compile with numba (all but one 12,010-instruction object) gives the
interpreter's r0, error, steps, packet, map contents and trace output on each sample packet
(maps persist across one machine's runs, so their history is compared too). numba compiles a
corpus program in 0.3-5 s, so `make test` runs a handful covering tail calls, subprograms,
maps of several kinds, byte swaps and a trap; the whole corpus is under the `slow` marker."""
from __future__ import annotations

import pathlib

import pytest

from cfg.elf import load_object
from cfg.errors import BpfcheckError
from runtime import vm
from runtime.jit import numba_support
from runtime.jit.python import PyJitMachine, numba_fits

from corpus_runs import outcomes  # tests/runtime, on the path under pytest

NUMBA, WHY = numba_support.available()
pytestmark = pytest.mark.skipif(not NUMBA, reason=WHY or "numba")
BUILD = pathlib.Path(__file__).resolve().parents[2] / "corpus" / "build"
RUNNABLE_TYPES = ("xdp", "sched_cls", "socket_filter")
# one of each: tail calls, bpf-to-bpf calls, hash/LRU maps, legacy maps, bswap, a null deref
HANDFUL = ("xdp_tail_dispatch.o:xdp_tail_dispatch", "xdp_subprog_parse.o:xdp_subprog_parse",
           "xdp_lru_flows.o:xdp_lru_flows", "xdp_legacy_tailcall.o:xdp_legacy_tailcall",
           "tc_v4_bswap.o:tc_v4_bswap", "bad_map_null_deref.o:bad_map_null_deref")


def _programs() -> list[tuple[str, int, str]]:
    """(object, program index, id) of the runnable programs numba may compile."""
    out = []
    for path in sorted(BUILD.glob("*.o")):
        try:
            obj = load_object(str(path))
        except BpfcheckError:
            continue
        for index, program in enumerate(obj.programs):
            if (program.type in RUNNABLE_TYPES and not program.core_relocs
                    and numba_fits(program)):
                out.append((str(path), index, f"{path.name}:{program.name}"))
    return out


PROGRAMS = _programs()


def _check(path: str, index: int) -> None:
    alive: list = []   # two machines at different addresses show what depends on them
    expected = outcomes(vm.Machine, path, index, alive)
    if outcomes(vm.Machine, path, index, alive) != expected:
        pytest.skip("the program's results depend on host addresses (a leaked pointer)")
    got = outcomes(lambda p, maps: PyJitMachine(p, maps, dialect="numba"), path, index)
    for packet, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"sample packet {packet}"


def test_the_handful_are_corpus_programs_and_all_but_the_long_jump_fit():
    assert set(HANDFUL) <= {name for _, _, name in PROGRAMS}
    assert len(PROGRAMS) > 50
    assert "xdp_v4_long_jump.o:xdp_v4_long_jump" not in {name for _, _, name in PROGRAMS}


@pytest.mark.parametrize("path,index", [(p, i) for p, i, name in PROGRAMS if name in HANDFUL],
                         ids=[name for _, _, name in PROGRAMS if name in HANDFUL])
def test_a_handful_of_corpus_programs_match_the_interpreter_in_numba(path, index):
    _check(path, index)


@pytest.mark.slow
@pytest.mark.parametrize("path,index", [(p, i) for p, i, _ in PROGRAMS],
                         ids=[name for _, _, name in PROGRAMS])
def test_every_corpus_program_matches_the_interpreter_in_numba(path, index):
    _check(path, index)
