"""The experiments the chapters run, as functions the notebook and its claims tests both call.

A notebook states what an experiment shows; a test re-runs the very same function at the same
preset and seed and asserts it. One module per chapter topic, named after the idea.
"""
