"""`bpfcheck bench cfg`: time CFG construction (build, inline) and the WTO on real objects and on
a synthetic program of N instructions with branches and nested loops."""
from __future__ import annotations

import glob
import time


def register(sub) -> None:
    parser = sub.add_parser("cfg", help="time CFG construction and weak topological ordering")
    parser.add_argument("files", nargs="*", help="ELF objects (default: corpus/build/*.o)")
    parser.add_argument("--synthetic", type=int, default=10_000,
                        help="size in instructions of the synthetic program (0: none)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--top", type=int, default=5, help="list the N largest programs")
    parser.set_defaults(handler=run_bench)


def synthetic(n: int):
    """A single-function program of about `n` instructions: diamonds, straight code, and inner
    loops grouped into outer loops (two nesting levels)."""
    from cfg import isa
    from cfg.isa import Insn
    from cfg.program import Program

    def alu(op, dst, imm):
        return Insn(isa.CLS_ALU64 | op | isa.SRC_K, dst, 0, 0, imm)

    def jmp(op, dst, imm, off):
        return Insn(isa.CLS_JMP | op | isa.SRC_K, dst, 0, off, imm)

    out: list[Insn] = [alu(isa.ALU_MOV, 1, 0), alu(isa.ALU_MOV, 2, 0)]
    i = 0
    while len(out) < n - 2:
        body: list[Insn] = []
        while len(body) < 60:
            k = i % 3
            i += 1
            if k == 0:     # diamond
                body += [jmp(isa.JMP_JGT, 1, i % 50, 2), alu(isa.ALU_ADD, 2, 1),
                         Insn(isa.CLS_JMP | isa.JMP_JA, off=1), alu(isa.ALU_ADD, 2, 2)]
            elif k == 1:   # inner loop
                body += [alu(isa.ALU_MOV, 3, 0), alu(isa.ALU_ADD, 3, 1),
                         jmp(isa.JMP_JLT, 3, 5, -2)]
            else:
                body += [alu(isa.ALU_ADD, 4, i)]
        # outer loop around the body
        out += [alu(isa.ALU_MOV, 6, 0)] + body + [alu(isa.ALU_ADD, 6, 1),
                                                  jmp(isa.JMP_JLT, 6, 3, -(len(body) + 2))]
    out += [alu(isa.ALU_MOV, 0, 0), Insn(isa.CLS_JMP | isa.JMP_EXIT)]
    return Program(out, name=f"synthetic{len(out)}")


def _best(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def measure(program, repeat: int = 3) -> dict:
    """Seconds for build, wto(build), inline, wto(inline) on one program, and graph sizes."""
    from cfg.graph import build, inline
    from cfg.wto import wto

    t_build, g = _best(lambda: build(program), repeat)
    t_wto, w = _best(lambda: wto(g, g.graph["entry"]), repeat)
    t_inline, gi = _best(lambda: inline(program), repeat)
    t_wto_i, _ = _best(lambda: wto(gi, gi.graph["entry"]), repeat)
    return {"name": program.name, "insns": len(program.insns), "blocks": len(g),
            "inlined_blocks": len(gi), "heads": len(w.heads), "build": t_build, "wto": t_wto,
            "inline": t_inline, "wto_inline": t_wto_i}


def run_bench(args) -> int:
    from cfg.elf import load_object
    from verifier.cli import about

    rows = []
    for path in args.files or sorted(glob.glob("corpus/build/*.o")):
        for prog in load_object(path).programs:
            with about(prog):
                rows.append(measure(prog, args.repeat))
    rows.sort(key=lambda r: -r["insns"])
    rows = rows[:args.top]
    if args.synthetic:
        rows.append(measure(synthetic(args.synthetic), args.repeat))
    print(f"{'program':28} {'insns':>7} {'blocks':>7} {'heads':>6} {'build ms':>9} "
          f"{'wto ms':>8} {'inline ms':>9} {'wto(inl) ms':>11}")
    for r in rows:
        print(f"{r['name'][:28]:28} {r['insns']:7} {r['blocks']:7} {r['heads']:6} "
              f"{r['build'] * 1e3:9.1f} {r['wto'] * 1e3:8.1f} {r['inline'] * 1e3:9.1f} "
              f"{r['wto_inline'] * 1e3:11.1f}")
    return 0
