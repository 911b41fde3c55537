#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/TARGET/) from programs that the
real `astcd sample` decodes, laid out as each target reads its bytes (tests/fuzz/*_fuzz.cc).

usage: make_seeds.py ASTCD_CLI PYTHON_STUBS_DIR OUT_DIR

FuzzedDataProvider reads integers from the end of the input and byte strings from the front,
so a seed is: kConfigBytes zero bytes (the default config), the payload, then the control
bytes in reverse order of their reading. Seeds are regenerated only when the layout changes;
the committed corpus also holds reproducers of findings (docs/reliability.md).
"""
import hashlib
import json
import os
import subprocess
import sys

CLI, STUBS, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, STUBS)
from astcd.v1 import astcd_pb2 as pb  # noqa: E402

CONFIG = bytes(40)  # tests/fuzz/fuzz_input.h kConfigBytes; zeros keep every default
STARTS = ["module", "function", "block", "expr"]


def sample(start, n, seed):
    out = subprocess.run([CLI, "sample", "--start", start, "--n", str(n), "--seed", str(seed),
                          "--max-len", "60"], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def write(target, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def tail(*read_order):
    """Control bytes given in the order the target reads them: last byte first."""
    return bytes(reversed(read_order))


def escape(message):
    """A ConsumeRandomLengthString field: backslashes doubled, ended by backslash + 'n'."""
    return message.replace(b"\\", b"\\\\") + b"\\n"


def main():
    for i, start in enumerate(STARTS):
        for p in sample(start, 4, 7 + i):
            source = p["source"].encode()
            # tokenize: start, arity (0: none), partial, max_len (2 bytes)
            write("tokenize", CONFIG + source + tail(i, 0, 0, 0, 0))
            write("tokenize", CONFIG + source[: len(source) // 2] + tail(i, 0, 1, 0, 0))
            # detokenize: start, arity, partial; ids < 250 are the bytes themselves
            write("detokenize", CONFIG + bytes(p["tokens"]) + tail(i, 0, 0))
            write("detokenize", CONFIG + bytes(p["tokens"][:-3]) + tail(i, 0, 1))
    # decode_walk and run read only control bytes: a few lengths of a fixed pattern.
    for n in (8, 64, 400):
        write("decode_walk", CONFIG + bytes((k * 37) % 256 for k in range(n)))
        write("run", CONFIG + bytes((k * 53) % 256 for k in range(n)))
    # requests: method index (tests/fuzz/requests_fuzz.cc ASTCD_FUZZ_METHODS, then 10 Step and
    # 11 Decode), tenant byte.
    init = pb.InitStatesRequest(requests=[pb.InitRequest(max_len=40)]).SerializeToString()
    masks = pb.LegalMasksRequest(session_ids=["\x00"]).SerializeToString()
    advance = pb.AdvanceRequest(session_ids=["\x00"], token_ids=[3]).SerializeToString()
    fork = pb.ForkStatesRequest(session_ids=["\x00"]).SerializeToString()
    rollback = pb.RollbackRequest(session_ids=["\x00"], num_tokens=[1]).SerializeToString()
    release = pb.ReleaseStatesRequest(session_ids=["\x00"]).SerializeToString()
    program = sample("function", 1, 3)[0]
    tokenize = pb.TokenizeRequest(sources=[program["source"]], start=pb.START_FUNCTION,
                                  create_sessions=True).SerializeToString()
    detok = pb.DetokenizeRequest(start=pb.START_FUNCTION,
                                 programs=[pb.TokenList(tokens=program["tokens"])])
    run = pb.RunRequest(source=program["source"], start=pb.START_FUNCTION,
                        inputs=[pb.ArgTuple(args=[1, 2, 3][:program["source"].count(",") + 1])],
                        limits=pb.RunLimits(max_steps=1000), trace=True)
    run_session = pb.RunRequest(session_id="\x00", inputs=[pb.ArgTuple(args=[4])])
    write("requests", escape(init) + escape(masks) + escape(advance) + escape(fork) +
          escape(rollback) + escape(release) + tail(1, 1, 2, 1, 3, 1, 5, 1, 4, 1, 6, 1))
    write("requests", escape(pb.GetVocabularyRequest().SerializeToString()) + tail(0, 1))
    write("requests", escape(tokenize) + escape(run_session.SerializeToString()) +
          tail(7, 1, 9, 1))
    write("requests", escape(run.SerializeToString()) + tail(9, 1))
    write("requests", escape(detok.SerializeToString()) + tail(8, 1))
    decode = pb.DecodeRequest(init_requests=[pb.InitRequest(start=pb.START_EXPR, max_len=20)],
                              n=5, keep_sessions=True, sampler=pb.Sampler(seed=1))
    write("requests", escape(decode.SerializeToString()) + escape(masks) + tail(11, 1, 2, 1))
    write("requests", escape(init) + escape(
        pb.StepRequest(step_id=1, legal_masks=pb.LegalMasksRequest(session_ids=["\x00"]))
        .SerializeToString()) + tail(1, 1, 10, 1))


if __name__ == "__main__":
    main()
