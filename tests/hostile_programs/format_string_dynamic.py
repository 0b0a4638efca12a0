# expect: format-string
def label(x):
    template = "{0." + "_" * 2 + "class" + "_" * 2 + "}"
    return 1 if template.format(x) else -1
