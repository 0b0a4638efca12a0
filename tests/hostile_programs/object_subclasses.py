# expect: forbidden-name
def label(x):
    everything = object.__subclasses__()
    return 1 if everything else -1
