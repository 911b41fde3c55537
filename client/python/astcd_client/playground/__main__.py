"""python3 -m astcd_client.playground --server HOST:PORT [--host 127.0.0.1] [--port 8000]
[--timeout 30] [--io-timeout 10] [--quiet]"""
import sys

from .gateway import main

sys.exit(main())
