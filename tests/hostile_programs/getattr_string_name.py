# expect: forbidden-name
def label(x):
    klass = getattr(x, "_" + "_class_" + "_")
    return 0 if klass else -1
