# expect: module-level-code
class re:
    compile = print


PATTERN = re.compile("at import")


def label(x):
    return -1
