"""The web playground: a thin HTTP gateway to astcd-server and a static page (docs/visualize.md).

    python3 -m astcd_client.playground --server 127.0.0.1:50051 [--host 127.0.0.1] [--port 8000]
        [--timeout 30] [--io-timeout 10] [--quiet]

prints the URL it listens on as its first line. The page (static/index.html, app.js, app.css;
no other files, nothing from the internet) lets you build a program token by token from the
server's legal-token masks, undo, sample the rest, run it and tokenize Python.

The gateway knows no language: each JSON endpoint (POST /api/NAME, a JSON object in, a JSON
object out) is one call of astcd_client.Client:

| endpoint | client call |
| --- | --- |
| vocabulary | vocabulary(config) |
| init_states | init_states([{start, arity, max_len, prefix_tokens}], config, return_masks=True) |
| legal_masks | legal_masks([session_id]) |
| advance | advance([session_id], [token], return_masks=True) |
| rollback | rollback([session_id], num_tokens, return_masks=True) |
| release | release(session_ids) |
| decode | decode(sessions=[session_id], sampler, seed, n=1, trace=True, keep_sessions=True) |
| detokenize | detokenize([tokens], config, start, partial, arity) |
| run | run(tokens or source, inputs, config, start, arity, entry, max_steps, trace) |
| tokenize | tokenize([source], config, start, partial, arity, max_len) |

Masks come back as `legal`, the list of legal token ids. A request body is at most 1 MiB. A
refused call answers {"error": {"code", "message", "field_violations": [{field,
description}], "origin": "server" | "gateway"}} with an HTTP status for the gRPC code (400
INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE, 401 UNAUTHENTICATED, 403
PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 501 UNIMPLEMENTED, 503 UNAVAILABLE,
504 DEADLINE_EXCEEDED, else 502); one table (gateway.STATUS_TABLE) also gives the code of each
status the gateway answers with itself. The gateway keeps no sessions: the page names its own,
releases them on reset, and the server's TTL evicts abandoned ones.

It serves 127.0.0.1 to a browser, so no other site's page may drive it: a request whose Host is
not the gateway's address (403; for a loopback bind also localhost:PORT and 127.0.0.1:PORT),
a POST whose Origin is present and not the gateway's own (403), or a POST that is not
Content-Type: application/json (415) is refused. A connection that sends nothing for
--io-timeout seconds (10) is closed, and at most 64 are served at once (the accept waits).
"""
from .gateway import (MAX_BODY_BYTES, STATIC_DIR, Gateway, GatewayError, make_server,
                      main)

__all__ = ["Gateway", "GatewayError", "MAX_BODY_BYTES", "STATIC_DIR", "main", "make_server"]
