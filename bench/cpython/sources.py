"""The shared input format of the Tokenize benchmark: a list of Python sources (raw bytes).

  line 1: "astcd-function-sources 1\\n"
  per source: "<nbytes>\\t<compiles>\\t<file>\\t<line>\\t<name>\\n", then <nbytes> bytes of
  source, then "\\n".

bench/tokenize_bench.cc reads the same format.
"""
import os

MAGIC = b"astcd-function-sources 1\n"


class Source:
    __slots__ = ("source", "compiles", "file", "line", "name")

    def __init__(self, source, compiles, file, line, name):
        self.source, self.compiles, self.file, self.line, self.name = (source, compiles, file,
                                                                      line, name)


def write_sources(path, records):
    """records: iterables of (source bytes, compiles bool, file, line, name)."""
    with open(path, "wb") as out:
        out.write(MAGIC)
        for source, compiles, file, line, name in records:
            header = "%d\t%d\t%s\t%d\t%s\n" % (len(source), bool(compiles), file, line, name)
            out.write(header.encode("utf-8", "surrogateescape"))
            out.write(source)
            out.write(b"\n")


def read_sources(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not an astcd-function-sources file")
    pos = len(MAGIC)
    out = []
    while pos < len(data):
        end = data.index(b"\n", pos)
        nbytes, compiles, file, line, name = data[pos:end].split(b"\t")
        start = end + 1
        stop = start + int(nbytes)
        if data[stop:stop + 1] != b"\n":
            raise ValueError(f"{path}: bad record at byte {pos}")
        out.append(Source(data[start:stop], compiles == b"1", os.fsdecode(file), int(line),
                          name.decode("utf-8", "surrogateescape")))
        pos = stop + 1
    return out
