"""The ZeroMQ service (`allspark serve`) the QGIS plugin talks to; protocol in allspark_protocol.

server.Server     the ROUTER service on an engine (dependency-injected: anything with the Engine API)
jobs              the model worker, batch / train jobs, tiled raster blocks, atomic result files
auth              loopback check and ZeroMQ CURVE for remote GPU hosts
connection        the 0600 connection file (allspark_protocol.connection_file), refusals as AllSparkError
bench             bench_service(): ping, 100 MB throughput vs bare PAIR, ask overhead; bench_security():
                  HMAC-only vs CURVE+HMAC (python -m allspark.service.bench --curve)
"""
