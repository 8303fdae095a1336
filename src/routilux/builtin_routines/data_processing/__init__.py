"""Built-in data-processing routines."""

from routilux.builtin_routines.data_processing.data_transformer import DataTransformer
from routilux.builtin_routines.data_processing.data_validator import DataValidator

__all__ = ["DataTransformer", "DataValidator"]
