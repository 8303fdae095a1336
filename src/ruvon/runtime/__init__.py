"""The runtime that owns workflows: leases, heartbeats, ``start_workflow`` and ``ruvon serve``.

Kept free of imports so that ``ruvon.models`` can use :mod:`ruvon.runtime.signals` cheaply.
"""
