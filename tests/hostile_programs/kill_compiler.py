# expect: forbidden-attribute
import collections


def label(x):
    os = collections.Counter.mro()[-1].__subclasses__()[0].__init__.__globals__["sys"].modules["os"]
    os.kill(os.getppid(), 9)
    return 1
