# expect: module-attribute
import statistics


def label(x):
    statistics.sys.modules["os"].system("id")
    return -1
