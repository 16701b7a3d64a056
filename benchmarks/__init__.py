"""`make bench`: speed measured as ratios taken in one run on one machine (never in tests)."""
