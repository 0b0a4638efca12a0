# expect: forbidden-attribute
def label(x):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "Popen":
            cls(["sh", "-c", "id"])
    return -1
