# expect: forbidden-attribute
import re


def label(x):
    os = re.RegexFlag._convert_.__globals__["sys"].modules["os"]
    forged = b'{"done": 1}'
    for fd in range(3, 10):
        os.write(fd, len(forged).to_bytes(4, "big") + forged)
    return 1
