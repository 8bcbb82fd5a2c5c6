"""Benchmarks: the gateway measured side by side with the mock backend alone.

    python -m bench.run [--quick]       the figures in bench/README.md
    python -m bench.profile             where the gateway's CPU goes
    python -m bench.alternatives        server, client and JSON libraries

`bench.load` is the load generator (its own process), `bench.procs` starts
the mock backend and the gateway and reads their CPU and memory from /proc,
`bench.report` turns samples into the tables.  Results and profiles go to
``bench/results/``, which git ignores.
"""
