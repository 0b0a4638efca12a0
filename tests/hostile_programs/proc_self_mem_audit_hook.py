# expect: forbidden-attribute
import re


def label(x):
    # Walk from a public class of an allowed module to sys, then rewrite this process's memory
    # through /proc/self/mem to disable the audit hook, then shell out.
    sys = re.Pattern.mro()[-1].__subclasses__()[0].__init__.__globals__["sys"]
    os = sys.modules["os"]
    with open("/proc/self/mem", "r+b") as mem:
        mem.seek(id(sys.audit))
        mem.write(b"\x00" * 16)
    os.system("touch pwned")
    return 1
