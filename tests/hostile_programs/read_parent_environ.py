# expect: forbidden-attribute
import re


def label(x):
    os = re.RegexFlag._convert_.__globals__["sys"].modules["os"]
    secrets = open(f"/proc/{os.getppid()}/environ", "rb").read()
    return 1 if b"OPENAI_API_KEY" in secrets else 0
