"""The routines routilux 0.10 ships: text, data, time and routing helpers."""

from routilux.builtin_routines.control_flow import ConditionalRouter
from routilux.builtin_routines.data_processing import DataTransformer, DataValidator
from routilux.builtin_routines.text_processing import ResultExtractor, TextClipper, TextRenderer
from routilux.builtin_routines.utils import DataFlattener, TimeProvider

__all__ = [
    "ConditionalRouter",
    "DataFlattener",
    "DataTransformer",
    "DataValidator",
    "ResultExtractor",
    "TextClipper",
    "TextRenderer",
    "TimeProvider",
]
