#!/bin/sh
# The folder for the tests' files and their PostgreSQL data (make test's TMPDIR,
# .ci/run's server): /dev/shm where it is a writable tmpfs with 4 GiB free,
# else $TMPDIR or /tmp. Creating a file on the development machine's disk costs
# about 0.8 ms, in memory 0.01 ms (docs/benchmarks.md, the suite's fifth round).
free=$(df --output=avail -k /dev/shm 2>/dev/null | tail -1)
if [ "${free:-0}" -ge 4194304 ] 2>/dev/null && [ -w /dev/shm ]; then
    echo /dev/shm
else
    echo "${TMPDIR:-/tmp}"
fi
