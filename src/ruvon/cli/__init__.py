"""The ``ruvon`` command line: validate, run, inspect and steer workflows stored in SQLite or Postgres.

Install with ``pip install 'ruvon[cli]'`` and run ``ruvon --help``. The entry point is
:func:`ruvon.cli.main.run`; ``python -m ruvon.cli.main`` works too.
"""
