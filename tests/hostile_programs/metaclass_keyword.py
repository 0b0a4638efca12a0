# expect: module-level-code
class Evil(metaclass=print):
    pass


def label(x):
    return -1
