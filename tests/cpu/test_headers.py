"""The C headers in fastact/cpu/src: exp.h's coefficient block is what
tools/gen_exp_h.py makes of fastact.core.vmath's coefficients, so a refitted
coefficient cannot reach the numba kernels and not the C ones."""

from __future__ import annotations

import math
import re
from pathlib import Path

from fastact.core.vmath import EXPP_D
from tools import gen_exp_h


def test_exp_h_block_is_generated():
    text = gen_exp_h.HEADER.read_text()
    assert text.count(gen_exp_h.BEGIN) == 1 and text.count(gen_exp_h.END) == 1
    assert gen_exp_h.current(text) == gen_exp_h.block(), (
        "fastact/cpu/src/exp.h is stale: run python tools/gen_exp_h.py"
    )


def test_block_reads_back_bit_for_bit():
    # the hexadecimal literals, read as C reads them, are vmath's doubles
    defs = dict(re.findall(r"#define FA_EXPP_D(\d+) (\S+)", gen_exp_h.block()))
    assert [float.fromhex(defs[str(i)]) for i in range(len(EXPP_D))] == list(EXPP_D)
    assert len(defs) == len(EXPP_D)


def test_a_changed_coefficient_is_caught():
    text = gen_exp_h.HEADER.read_text()
    c = float(EXPP_D[3])
    stale = text.replace(c.hex(), math.nextafter(c, 1.0).hex(), 1)
    assert stale != text
    assert gen_exp_h.current(stale) != gen_exp_h.block()
    assert gen_exp_h.splice(stale) == text


def test_includes_resolve():
    # setup.py's depends= lists that folder: every local header that a .pyx
    # or a header includes must be there
    src = gen_exp_h.HEADER.parent
    files = list(src.glob("*.h")) + list(Path(src.parent).glob("*.pyx"))
    for f in files:
        text = f.read_text()
        names = re.findall(r'#include "([^"]+)"', text) + re.findall(
            r'extern from "([^"<]+)"', text
        )
        for name in names:
            assert (src / name).is_file(), f"{f.name} includes missing {name}"
