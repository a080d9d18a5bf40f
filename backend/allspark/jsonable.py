"""Turning head results (numpy arrays and scalars, tuples, bytes) into plain JSON-ready values."""

from __future__ import annotations


def jsonable(obj, *, str_keys: bool = False, bytes_hex: bool = False):
    """A JSON-ready copy of obj: arrays become lists, numpy scalars Python numbers; with str_keys the
    dict keys become strings, with bytes_hex bytes become their hex digits."""
    import numpy as np

    def conv(o):
        if isinstance(o, dict):
            return {(str(k) if str_keys else k): conv(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [conv(v) for v in o]
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
        if bytes_hex and isinstance(o, (bytes, bytearray)):
            return o.hex()
        return o

    return conv(obj)
