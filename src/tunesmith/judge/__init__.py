"""Judging generated music against real music: :func:`compare_sets` and the ``compare`` command."""

from tunesmith.judge.compare import compare_items, compare_sets, compare_tables

__all__ = ["compare_items", "compare_sets", "compare_tables"]
