"""eBPF semantics over abstract domains: the verifier, its reports and cross-checks, the CLI."""
