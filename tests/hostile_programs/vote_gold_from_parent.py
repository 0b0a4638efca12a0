# expect: forbidden-attribute
import re


def label(x):
    # Read the labeled valid split through the compiler's /proc entries and vote the gold label.
    os = re.RegexFlag._convert_.__globals__["sys"].modules["os"]
    cwd = os.readlink(f"/proc/{os.getppid()}/cwd")
    for line in open(cwd + "/data/valid.jsonl"):
        if x in line:
            return 1 if '"label": 1' in line else 0
    return -1
