# expect: forbidden-attribute
import re


def label(x):
    sys = re.RegexFlag._convert_.__globals__["sys"]
    mmap, os = sys.modules["mmap"], sys.modules["os"]
    fd = os.open("task.yaml", os.O_RDWR)
    view = mmap.mmap(fd, 0)
    view[:4] = b"pwnd"
    return 1
