"""The AllSpark protocol: what the QGIS plugin and the backend service share, in one place.

wire             messages, HMAC-SHA256 signing, streamed large frames, the replay guard, limits
                 (pure Python + numpy)
connection_file  the connection file: default place, read, atomic 0600 write, remove-if-ours, and
                 whether its process is alive (pure Python)
client           the pyzmq Client of the service and its errors (the only module that imports zmq)
atomic           writing a file atomically (the connection file; the backend's result files too)

Installed with the backend (`pip install .`, package `allspark_protocol`) and shipped inside the plugin
zip as `allspark_qgis/protocol/` (in the repository a symlink to this folder; build.py copies the files).
So every import inside this package is relative: it works under both names, and nothing here imports
the backend (`allspark`), the plugin (`allspark_qgis`) or QGIS.
"""
