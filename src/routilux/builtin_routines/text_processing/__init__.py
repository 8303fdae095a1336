"""Built-in text-processing routines."""

from routilux.builtin_routines.text_processing.result_extractor import ResultExtractor
from routilux.builtin_routines.text_processing.text_clipper import TextClipper
from routilux.builtin_routines.text_processing.text_renderer import TextRenderer

__all__ = ["ResultExtractor", "TextClipper", "TextRenderer"]
