"""Built-in control-flow routines."""

from routilux.builtin_routines.control_flow.conditional_router import ConditionalRouter

__all__ = ["ConditionalRouter"]
