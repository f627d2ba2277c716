"""`codemend eval`: measure a model's pass rate on a suite, first try and after healing.

suite (what to run) -> job (one task x sample through the ordinary loop) -> local or Ray
executor -> results (JSONL, summary) -> report (markdown, plot); command wires them.
"""
