"""Abstract numeric domains; they know nothing of eBPF."""
