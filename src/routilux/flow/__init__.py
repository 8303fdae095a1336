"""Flows: routines wired together, run as jobs by a pool of workers."""

from routilux.flow.flow import Flow
from routilux.flow.task import SlotActivationTask, TaskPriority

__all__ = ["Flow", "SlotActivationTask", "TaskPriority"]
