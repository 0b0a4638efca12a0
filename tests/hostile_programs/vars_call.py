# expect: forbidden-name
def label(x):
    namespace = vars()
    return len(namespace) % 2
