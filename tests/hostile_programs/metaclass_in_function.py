# expect: class-definition
def _meta(name, bases, namespace):
    return namespace


def label(x):
    class Probe(metaclass=_meta):
        pass

    return 1 if Probe else -1
