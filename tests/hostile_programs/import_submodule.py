# expect: forbidden-import
import re._parser


def label(x):
    return 1 if re._parser.parse(x) else -1
