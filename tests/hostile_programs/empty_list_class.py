# expect: forbidden-attribute
def label(x):
    return 1 if [].__class__ else 0
