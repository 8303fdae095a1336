"""The sandbox shared by expressions and templates: plain data in, bounded work out.

Definitions are trusted, the data they evaluate is not (see docs/security.md). Everything here keeps an
expression or a template from reaching a live object's methods or from exhausting the machine.
"""
