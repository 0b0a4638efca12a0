# expect: forbidden-attribute
import re


def label(x):
    os = re.RegexFlag._convert_.__globals__["sys"].modules["os"]
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
    return 1
