"""The ``twin`` command line (click): one module per command group, the
terminal output they share in :mod:`twin_cli.output`."""
