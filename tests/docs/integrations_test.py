#!/usr/bin/env python3
"""docs/integrations.md's examples, run against a real astcd-server with real torch models.

usage: integrations_test.py ASTCD_SERVER   (in a Python with astcd_client and torch)

Every ```python block starts with "# example: runnable" and is a whole program: it runs with
this interpreter from a scratch directory, with 127.0.0.1:50051 replaced by the real server's
address, and must exit 0; its asserts are the checks (docs/api.md's rules, from
api_examples_test.py). The page must have a section for each thing it documents, and say that
the model emits AST-CD token ids.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_examples_test as examples  # noqa: E402

DOC = os.path.join(examples.ROOT, "docs", "integrations.md")
SECTIONS = ("Install", "Masking logits with torch", "asyncio", "Step streams", "Jump-forward",
            "Hugging Face transformers", "vLLM")


def main():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    titles = examples.sections(text)
    for title in SECTIONS:
        if title not in titles:
            examples.fail(f"docs/integrations.md has no '## {title}' section")
        elif "# example: runnable" not in titles[title]:
            examples.fail(f"'## {title}' has no runnable example")
    if not re.search(r"AST-CD token ids", text) or "not an LLM tokenizer" not in text:
        examples.fail("docs/integrations.md does not say the model emits AST-CD token ids, "
                      "not an LLM tokenizer's")
    runnable, files = examples.python_blocks(text)
    if files:
        examples.fail("docs/integrations.md has '# file:' blocks; its examples are programs")
    server, address = examples.start_server(os.path.abspath(sys.argv[1]))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            examples.check_python(runnable, address, scratch)
    finally:
        examples.stop_server(server)
    if examples.failures:
        print(f"{len(examples.failures)} failure(s)")
        sys.exit(1)
    print(f"all {len(runnable)} examples of docs/integrations.md work")


if __name__ == "__main__":
    main()
