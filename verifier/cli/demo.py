"""`bpfcheck demo`: a short tour on the bundled corpus (what `make demo` runs)."""
from __future__ import annotations

import glob
import os
import sys

DEMO_OBJECT = "corpus/build/xdp_ipv4_options.o"
UNSAFE_OBJECT = "corpus/build/bad_xdp_off_by_one.o"


def register(sub) -> None:
    parser = sub.add_parser("demo", help="a short tour of bpfcheck on the bundled corpus")
    parser.add_argument("--out", default="out/demo", help="where drawings go (default out/demo)")
    parser.set_defaults(handler=run_demo)


def _step(title: str, argv: list[str]) -> int:
    from verifier.cli import main

    print(f"\n\033[1m== {title}\033[0m\n$ bpfcheck {' '.join(argv)}", flush=True)
    code = main(argv)
    sys.stdout.flush()
    print(f"(exit code {code})")
    return code


def _sample_packet(path: str) -> None:
    """An Ethernet + IPv4 (with options) + UDP packet to run the XDP program on."""
    from runtime import packets as P

    packet = P.eth(P.ETH_IPV4, P.ipv4(P.PROTO_UDP, P.udp(4000, 53, b"bpfcheck"),
                                      options=b"\x01\x01\x01\x00"))
    with open(path, "wb") as f:
        f.write(packet)


def run_demo(args) -> int:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.chdir(root)
    os.makedirs(args.out, exist_ok=True)
    objects = sorted(glob.glob("corpus/build/*.o"))
    print(f"bpfcheck demo: {len(objects)} eBPF objects in corpus/build (built by `make corpus`)")
    _step("What is in an object", ["sections", DEMO_OBJECT])
    _step("Disassembly with C source lines", ["disasm", DEMO_OBJECT])
    _step("Verify a safe packet parser", ["verify", DEMO_OBJECT])
    _step("Verify a program with a bug: the error names the C line", ["verify", UNSAFE_OBJECT])
    svg = os.path.join(args.out, "xdp_ipv4_options.svg")
    _step("Draw its control-flow graph with invariants", ["cfg", DEMO_OBJECT, "--invariants", "-o", svg])
    packet = os.path.join(args.out, "packet.bin")
    _sample_packet(packet)
    _step("Run it on a packet", ["run", DEMO_OBJECT, "--packet", packet])
    _step("Verify the whole corpus (the unsafe programs fail on purpose)", ["verify", "--termination", "corpus/build"])
    print(f"\nDrawings are in {args.out}/.")
    return 0
