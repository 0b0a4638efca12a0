# expect: forbidden-attribute
def _gen():
    yield 1


def label(x):
    g = _gen()
    outer = g.gi_frame.f_back.f_globals
    return 1 if outer else -1
