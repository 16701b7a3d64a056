"""The experiments the chapters run, as functions the notebooks call.

A notebook states what an experiment shows and glues the numbers it measured; its claims tests
(``tests/test_claims_chNN.py``) assert the prose on those glued values, taken from the one execution
of the book at the ``cpu`` preset. One module per chapter topic, named after the idea.
"""
