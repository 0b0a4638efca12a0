# expect: forbidden-name
def label(x):
    code = compile("1 + 1", "<x>", "eval")
    return 1 if code else -1
