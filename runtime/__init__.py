"""Running eBPF programs: memory, maps, helpers, interpreter, JITs, the live kernel."""
