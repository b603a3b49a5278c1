"""Running a corpus object's program on an engine, shared by the engine-against-interpreter
tests: tail-call slots filled with the object's programs of the same type, each sample
packet through one machine (maps persist, so their history is part of the outcome)."""
from __future__ import annotations

import re
from typing import Callable

from cfg.elf import load_object
from runtime import vm
from runtime.maps import MapSet, ProgArrayMap
from runtime.packets import samples

PACKETS = list(samples().values())


def outcomes(make_machine: Callable, path: str, index: int, keep: list | None = None
             ) -> list[tuple]:
    """(r0, error with host addresses masked, steps, packet, maps, trace output) per sample
    packet; `make_machine(program, maps)` builds the engine. The machine is appended to `keep`
    if given (alive, its memory is not reused by the next machine's)."""
    obj = load_object(path)
    program = obj.programs[index]
    siblings = [p for p in obj.programs if p.type == program.type]
    maps = MapSet(program.maps)
    for prog_array in (m for m in maps if isinstance(m, ProgArrayMap)):
        for slot in range(min(8, prog_array.max_entries)):
            prog_array.set_program(slot, siblings[slot % len(siblings)])
    machine = make_machine(program, maps)
    if keep is not None:
        keep.append(machine)
    out = []
    for packet in PACKETS:
        res = machine.run(vm.make_context(packet=packet, program_type=program.type))
        error = None if res.error is None else re.sub(r"0x[0-9a-f]+", "ADDR", res.error)
        out.append((res.r0, error, res.steps, res.packet, maps.dump(), res.trace_output))
    return out
