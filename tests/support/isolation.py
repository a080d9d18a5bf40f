"""The start of a script run in a fresh Python that must see neither this repository nor the backend
installed from it (allspark, allspark_protocol, allspark_qgis): only what the test then puts on the path
(a plugin zip's folder, a wheel's files). argv[1] is that folder (`HERE`)."""

OFF_THE_PATH = r"""
import importlib.util, os, sys
HERE = sys.argv[1]
sys.path[:] = [p for p in sys.path if p and not any(os.path.exists(os.path.join(p, name))
               for name in ("allspark", "allspark_protocol", "allspark_qgis"))]
assert not any(importlib.util.find_spec(m) for m in ("allspark", "allspark_protocol", "allspark_qgis"))
sys.path.insert(0, HERE)
"""
