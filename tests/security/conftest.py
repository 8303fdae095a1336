"""The adversarial suite: expressions, templates, parameters and YAML tried as an attacker would.

Helpers, state models and step functions live in ``security_kit`` (importable from these tests).
"""
