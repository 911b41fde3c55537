"""python3 -m astcd_client.playground --server HOST:PORT [--host 127.0.0.1] [--port 8000]"""
import sys

from .gateway import main

sys.exit(main())
