"""bpfcheck as a CI lint step: many objects in parallel worker processes, budgets, output
formats (text, json, sarif, github, junit), configuration and suppressions, baselines and a
result cache. `verifier.cli.verify` is a thin layer over `verifier.lint.runner`."""
