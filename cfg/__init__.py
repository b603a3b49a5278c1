"""Lifting eBPF programs: instructions, text, ELF objects, control-flow graphs."""
