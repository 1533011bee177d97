import os
import sys

from hypothesis import HealthCheck, settings

# tests/accuracy.py is a helper module shared by several test files
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile("fastact", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fastact")
