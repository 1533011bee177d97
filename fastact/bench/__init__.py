"""The benchmark harness behind ``fastact bench`` and the pytest-benchmark
suite in ``bench/``: both take their cases, sizes, arrays and timing from
here.

- ``cases``: the kernels timed and their NumPy and torch baselines;
  ``peers``: the ONNX Runtime and JAX ones (the ``peers`` extra);
- ``config``: the sizes, the row length of the axis functions, the input data;
- ``worker``: one library's worker process (each library is timed in a
  process of its own, in the caller's environment); ``cpu``: the workers
  taking turns case by case, and the CPU rows of ``fastact bench``;
- ``timing``: rounds and the page placement of every array; ``gpu``: the
  GPU rows;
- ``table``: the text and markdown tables and their caption (CPU, ISA);
- ``runner``: a whole ``fastact bench`` run (tables, output files, the
  regression gate); ``regress``: saved runs and the gate; ``plot``: charts.
"""
