"""The benchmark harness behind ``fastact bench`` and the pytest-benchmark
suite in ``bench/``: both take their cases, sizes, arrays and timing from
here.

- ``cases``: the kernels timed and their NumPy and torch baselines;
- ``config``: the sizes, the row length of the axis functions, the input
  data, and the OpenMP wait policy every benchmark runs under;
- ``timing``: interleaved rounds and the page placement of every array;
- ``cpu``: the CPU rows of ``fastact bench``; ``gpu``: its GPU rows;
- ``table``: the text and markdown tables;
- ``runner``: a whole ``fastact bench`` run (tables, output files, the
  regression gate); ``regress``: saved runs and the gate; ``plot``: charts.
"""
